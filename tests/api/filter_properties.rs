//! Property test: random filters, compiled to SQL, select exactly the rows that a
//! small reference evaluator (SQL's three-valued logic) selects — on SQLite, and on
//! PostgreSQL when configured.

use std::collections::HashMap;

use hallpass::domain::filter::reference::{self, Row};
use hallpass::domain::filter::{Field, FieldType, Schema, Value, prepare};
use hallpass::store::filter_sql::compile;
use hallpass::store::{Backend as StoreBackend, Db, Param, Sql};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::{Backend, TestDb};

const FIELDS: &[Field] = &[
    Field { name: "n", column: "n", ty: FieldType::Integer, nullable: true },
    Field { name: "r", column: "r", ty: FieldType::Real, nullable: true },
    Field { name: "t", column: "t", ty: FieldType::Text, nullable: true },
    Field { name: "d", column: "d", ty: FieldType::Date, nullable: true },
    Field { name: "b", column: "b", ty: FieldType::Bool, nullable: true },
    Field { name: "w.x", column: "wx", ty: FieldType::Integer, nullable: true },
];
const SCHEMA: Schema = Schema { fields: FIELDS };

struct ProbeRow(HashMap<&'static str, Value>);

impl Row for ProbeRow {
    fn get(&self, column: &str) -> Value {
        self.0.get(column).cloned().unwrap_or(Value::Null)
    }
}

/// Every combination of a few interesting values (NULLs included).
fn rows() -> Vec<(i64, ProbeRow)> {
    let ns = [Value::Null, Value::Int(-2), Value::Int(0), Value::Int(3)];
    let rs = [Value::Null, Value::Real(-1.5), Value::Real(2.5), Value::Real(3.0)];
    let texts: Vec<Value> =
        [None, Some("a"), Some("B"), Some("ab"), Some("a%"), Some("b_c"), Some(""), Some("Zed")]
            .into_iter()
            .map(|t| t.map_or(Value::Null, |t| Value::Text(t.into())))
            .collect();
    let dates: Vec<Value> = [None, Some("2016-05-01"), Some("2017-01-01")]
        .into_iter()
        .map(|d| d.map_or(Value::Null, |d| Value::Text(d.into())))
        .collect();
    let bools = [Value::Null, Value::Int(0), Value::Int(1)];
    let mut out = Vec::new();
    let mut id = 0;
    for (i, n) in ns.iter().enumerate() {
        for (j, t) in texts.iter().enumerate() {
            id += 1;
            let row = HashMap::from([
                ("n", n.clone()),
                ("r", rs[(i + j) % rs.len()].clone()),
                ("t", t.clone()),
                ("d", dates[(i * 3 + j) % dates.len()].clone()),
                ("b", bools[(i + 2 * j) % bools.len()].clone()),
                ("wx", ns[(j + 1) % ns.len()].clone()),
            ]);
            out.push((id, ProbeRow(row)));
        }
    }
    out
}

fn comparison() -> impl Strategy<Value = String> {
    let num =
        prop_oneof![(-3i64..4).prop_map(|n| n.to_string()), Just("1.5".to_owned()), Just("-1.5".to_owned())];
    let text = prop::sample::select(vec!["'a'", "'B'", "'ab'", "'a%'", "''", "'zed'", "'b_c'", "'it''s'"]);
    let pattern = prop::sample::select(vec!["'a%'", "'%b%'", "'_'", "'a\\%'", "'%'", "'b\\_c'", "'Z%'"]);
    let date = prop::sample::select(vec!["'2016-05-01'", "'2016-12-31'", "'2017-01-01'"]);
    let order = prop::sample::select(vec!["eq", "ne", "gt", "ge", "lt", "le", "EQ", "Gt"]);
    let eqne = prop::sample::select(vec!["eq", "ne"]);
    prop_oneof![
        (prop::sample::select(vec!["n", "r", "w.x"]), order.clone(), num.clone())
            .prop_map(|(f, o, v)| format!("{f} {o} {v}")),
        (prop::sample::select(vec!["n", "r", "t", "d", "b", "w.x"]), eqne.clone())
            .prop_map(|(f, o)| format!("{f} {o} null")),
        (order.clone(), text).prop_map(|(o, v)| format!("t {o} {v}")),
        pattern.prop_map(|p| format!("t like {p}")),
        (order, date).prop_map(|(o, v)| format!("d {o} {v}")),
        (eqne, prop::bool::ANY).prop_map(|(o, b)| format!("b {o} {b}")),
        prop::collection::vec(-3i64..4, 1..4).prop_map(|ns| format!(
            "n in ({})",
            ns.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
        )),
        prop::collection::vec(prop::sample::select(vec!["'a'", "'ab'", "''", "'Zed'"]), 1..3)
            .prop_map(|ts| format!("t IN ({})", ts.join(","))),
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    comparison().prop_recursive(5, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|t| format!("({})", t.join(" and "))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|t| format!("({})", t.join(" OR "))),
            inner.prop_map(|t| format!("not ({t})")),
        ]
    })
}

async fn probe_db(backend: Backend) -> (TestDb, Db) {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_db.url).await.unwrap();
    let real = if db.backend == StoreBackend::Postgres { "DOUBLE PRECISION" } else { "REAL" };
    let ddl = format!(
        "CREATE TABLE filter_probe (id BIGINT PRIMARY KEY, n BIGINT, r {real}, t TEXT, d TEXT, b BIGINT, wx BIGINT)"
    );
    db.execute_script(&ddl).await.unwrap();
    let insert =
        Sql::dynamic("INSERT INTO filter_probe (id, n, r, t, d, b, wx) VALUES ($1, $2, $3, $4, $5, $6, $7)");
    for (id, row) in rows() {
        let mut params = vec![Param::from(id)];
        for column in ["n", "r", "t", "d", "b", "wx"] {
            params.push(match row.get(column) {
                Value::Null if column == "r" => Param::Real(None),
                Value::Null if matches!(column, "t" | "d") => Param::Text(None),
                Value::Null => Param::Int(None),
                Value::Int(n) => Param::from(n),
                Value::Real(f) => Param::from(f),
                Value::Text(s) => Param::from(s),
            });
        }
        db.execute(insert, &params).await.unwrap();
    }
    (test_db, db)
}

fn agree_on(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (_guard, db) = runtime.block_on(probe_db(backend));
    let rows = rows();
    let mut runner = TestRunner::new(Config { cases: 300, ..Config::default() });
    runner
        .run(&filter_text(), |text| {
            let typed = prepare(&text, &SCHEMA).map_err(|e| TestCaseError::fail(format!("{text}: {e:?}")))?;
            let compiled = compile(&typed, db.backend, 1);
            let sql = format!("SELECT id FROM filter_probe WHERE {} ORDER BY id", compiled.sql);
            let got: Vec<i64> = runtime
                .block_on(db.read(Sql::dynamic(&sql), &compiled.params))
                .map_err(|e| TestCaseError::fail(format!("{text} → {sql}: {e}")))?;
            let want: Vec<i64> = rows
                .iter()
                .filter(|(_, row)| reference::eval(&typed, row) == Some(true))
                .map(|(id, _)| *id)
                .collect();
            prop_assert_eq!(got, want, "{} → {}", text, sql);
            Ok(())
        })
        .unwrap();
    runtime.block_on(db.close());
}

#[test]
fn filters_agree_with_the_reference_on_sqlite() {
    agree_on(Backend::Sqlite);
}

#[test]
#[cfg_attr(not(test_postgres), ignore = "needs PostgreSQL: set HALLPASS_TEST_POSTGRES_URL")]
fn filters_agree_with_the_reference_on_postgres() {
    agree_on(Backend::Postgres);
}
