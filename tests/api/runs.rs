//! Runs: CRUD, ownership, filters, weekly reports, import, and weather (against a
//! stand-in Open-Meteo).

use hallpass::store::Sql;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, Tokens, assert_problem};
use crate::on_both_backends;
use crate::weather_stub::{Mode, WeatherStub};

on_both_backends!(
    runs_are_created_validated_and_owned,
    the_seed_filter_and_injection_attempts,
    weekly_report_matches_the_dataset_by_hand,
    import_is_all_or_nothing,
    weather_is_retried_from_the_queue,
    strict_weather_refuses_runs,
    patch_recomputes_speed_week_and_weather,
    keyset_paging_walks_every_run_once,
    totals_follow_every_change_to_the_runs,
    simultaneous_writes_and_reads_all_land,
    a_large_import_leaves_the_server_responsive,
);

const DATASET: &str = include_str!("../fixtures/jogging_dataset.csv");

async fn setup(backend: Backend) -> (TestApp, WeatherStub, Tokens) {
    let weather = WeatherStub::start().await;
    let app = TestApp::spawn_with(backend, weather.options()).await;
    let tokens = app.register("runner").await;
    (app, weather, tokens)
}

async fn import(app: &TestApp, token: &str, csv: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/runs/import"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let res = app.get(&format!("/api/v1/runs?{query}"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

async fn runs_are_created_validated_and_owned(backend: Backend) {
    let (app, weather, me) = setup(backend).await;
    let body = json!({"date": "2017-01-01", "distance": 5000, "time": 1250, "location": "32.0853 34.7818", "notes": "new year"});
    let res = app.post_json("/api/v1/runs", &body, Some(&me.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let run: Value = res.json().await.unwrap();
    assert_eq!(run["date"], "2017-01-01");
    assert_eq!(run["speed"], 4.0);
    assert_eq!(run["week"], json!({"year": 2016, "week": 52}), "2017-01-01 is in ISO week 2016-W52");
    assert_eq!(run["location"], json!({"lat": 32.0853, "lon": 34.7818}));
    assert_eq!(run["weather"]["status"], "ok");
    assert_eq!(run["weather"]["summary"], "rain");
    assert_eq!(run["weather"]["temperature_max"], 21.5);
    assert_eq!(weather.paths(), vec!["/v1/archive"], "a past date comes from the archive");
    let today = hallpass::clock::rfc3339(app.clock_now())[..10].to_owned();
    let recent = json!({"date": today, "distance": 1000, "time": 300, "location": {"lat": 1.5, "lon": 2.5}});
    assert_eq!(app.post_json("/api/v1/runs", &recent, Some(&me.access)).await.status(), StatusCode::CREATED);
    assert_eq!(
        weather.paths().last().map(String::as_str),
        Some("/v1/forecast"),
        "recent dates come from the forecast"
    );

    let cases = [
        (json!({"date": "2017-02-30", "distance": 1, "time": 1, "location": "0 0"}), "date"),
        (json!({"date": "2017-01-01", "distance": 0, "time": 1, "location": "0 0"}), "distance"),
        (json!({"date": "2017-01-01", "distance": 1, "time": -5, "location": "0 0"}), "time"),
        (json!({"date": "2017-01-01", "distance": 1, "time": 1, "location": "95 0"}), "location"),
        (json!({"date": "2017-01-01", "distance": 1, "time": 1, "location": {"lat": 1}}), "location"),
        (
            json!({"date": "2017-01-01", "distance": 1, "time": 1, "location": "0 0", "user_id": "x"}),
            "user_id",
        ),
        (json!({"date": "2017-01-01", "distance": "far", "time": 1, "location": "0 0"}), "distance"),
        (json!({"date": "2017-01-01", "distance": 1000, "time": 5e-324, "location": "0 0"}), "time"),
    ];
    for (body, field) in cases {
        let res = app.post_json("/api/v1/runs", &body, Some(&me.access)).await;
        let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(
            problem["errors"].as_array().unwrap().iter().any(|e| e["field"] == field),
            "{body} → {problem}"
        );
    }

    // Someone else's run does not exist for them; managers do not manage runs.
    let other = app.register("stranger").await;
    let path = format!("/api/v1/runs/{}", run["id"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&other.access)).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch_json(&path, &json!({"notes": "mine now"}), &other.access).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &other.access).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(list(&app, &other.access, "").await["total"], 0);
    let res = app.get("/api/v1/runs?filter=user_id eq 'x'", Some(&other.access)).await;
    let problem = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_filter").await;
    assert!(problem["detail"].as_str().unwrap().contains("unknown field `user_id`"));

    // Admins see everyone's runs and may filter by owner.
    let root_id = app.register("root").await.user_id.unwrap();
    app.grant_roles(&root_id, &["admin"]).await;
    let root = app.login_ok("root").await;
    let filter = format!("user_id eq '{}'", me.user_id.clone().unwrap());
    let mine = list(&app, &root.access, &format!("filter={}", urlencode(&filter))).await;
    assert_eq!(mine["total"], 2);
    assert_eq!(app.get(&path, Some(&root.access)).await.status(), StatusCode::OK);

    assert_eq!(app.delete(&path, &me.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, Some(&me.access)).await.status(), StatusCode::NOT_FOUND);
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn the_seed_filter_and_injection_attempts(backend: Backend) {
    let (app, _weather, me) = setup(backend).await;
    assert_eq!(import(&app, &me.access, DATASET).await.status(), StatusCode::CREATED);
    // The seed's own example, over its own dataset.
    let seed = "(date eq '2016-05-01') AND ((distance gt 20) OR (distance lt 10))";
    assert_eq!(list(&app, &me.access, &format!("filter={}", urlencode(seed))).await["total"], 0);
    let cases = [
        ("(date eq '2016-01-09') AND ((distance gt 20) OR (distance lt 10))", 1),
        ("distance gt 2000", 4),
        ("distance ge 2000", 12),
        ("(distance lt 200) and not (date lt '2019-03-01')", 4),
        ("date ge '2019-01-01' AND (lat gt 40 OR speed ge 5)", 6),
        ("DATE IN ('2015-01-01', '2019-07-15') or time eq 1000", 4),
        ("weather.status eq 'pending'", 18),
        ("notes eq ''", 18),
    ];
    for (filter, expected) in cases {
        let page = list(&app, &me.access, &format!("filter={}", urlencode(filter))).await;
        assert_eq!(page["total"], expected, "{filter}");
    }
    // Sorting and paging.
    let page = list(&app, &me.access, "sort=distance,-date&count=3&page=0").await;
    let dates: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|r| r["date"].as_str().unwrap()).collect();
    assert_eq!(dates, vec!["2019-02-01", "2019-06-15", "2019-05-15"]);
    let newest = list(&app, &me.access, "count=1").await;
    assert_eq!(newest["items"][0]["date"], "2019-07-15");

    // Attacks and mistakes: 400 with a position, and nothing changes.
    let attacks = [
        ("distance gt 1; drop table users;", 13),
        ("notes eq '' OR ''=''", 15),
        ("distance gt 20) or (1 eq 1", 14),
        ("((distance gt 20)", 17),
        ("distance gt 'a lot'", 12),
        ("password_hash eq 'x'", 0),
        ("date eq '2016-05-01' and", 24),
    ];
    for (filter, position) in attacks {
        let res = app.get(&format!("/api/v1/runs?filter={}", urlencode(filter)), Some(&me.access)).await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "invalid_filter").await;
        assert_eq!(problem["position"], position, "{filter}: {problem}");
    }
    // A whole and a decimal literal on one field give different SQL (a driver reuses
    // prepared statements by text); alternating them must not confuse the answers.
    let body = json!({"date": "2016-05-01", "distance": 3000, "time": 900, "location": "60.17 24.94"});
    assert_eq!(app.post_json("/api/v1/runs", &body, Some(&me.access)).await.status(), StatusCode::CREATED);
    for _ in 0..6 {
        assert_eq!(list(&app, &me.access, "filter=weather.code%20gt%2060.5").await["total"], 1);
        assert_eq!(list(&app, &me.access, "filter=weather.code%20gt%2060").await["total"], 1);
        assert_eq!(list(&app, &me.access, "filter=weather.code%20lt%2061.5").await["total"], 1);
    }
    let res = app
        .delete(
            &format!(
                "/api/v1/runs/{}",
                list(&app, &me.access, "filter=weather.code%20eq%2061").await["items"][0]["id"]
                    .as_str()
                    .unwrap()
            ),
            &me.access,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res =
        app.get(&format!("/api/v1/runs?filter={}", urlencode("notes like 'abc\\'")), Some(&me.access)).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_filter").await;
    let res = app.get("/api/v1/runs?sort=-password", Some(&me.access)).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_sort").await;
    assert_eq!(list(&app, &me.access, "").await["total"], 18);
    assert_eq!(app.login("runner", crate::helpers::PASSWORD).await.status(), StatusCode::OK, "users intact");
}

async fn weekly_report_matches_the_dataset_by_hand(backend: Backend) {
    let (app, _weather, me) = setup(backend).await;
    import(&app, &me.access, DATASET).await;
    let res = app.get("/api/v1/runs/reports/weekly?count=20", Some(&me.access)).await;
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["total"], 12);
    let items = report["items"].as_array().unwrap();
    let row = |i: usize| {
        let r = &items[i];
        (
            r["year"].as_i64().unwrap(),
            r["week"].as_i64().unwrap(),
            r["week_start"].as_str().unwrap().to_owned(),
            r["runs"].as_i64().unwrap(),
        )
    };
    // Computed by hand from the 18 rows (ISO weeks; 2017-01-01 belongs to 2016-W52).
    assert_eq!(row(0), (2019, 29, "2019-07-15".into(), 1));
    assert_eq!(row(6), (2019, 1, "2018-12-31".into(), 1));
    assert_eq!(row(8), (2016, 52, "2016-12-26".into(), 1));
    assert_eq!(row(10), (2015, 2, "2015-01-05".into(), 4));
    assert_eq!(row(11), (2015, 1, "2014-12-29".into(), 4));
    let first_week = &items[11];
    assert_eq!(first_week["total_distance"], 8100.0);
    assert_eq!(first_week["total_time"], 1728.0);
    assert_eq!(first_week["average_distance"], 2025.0);
    assert_eq!(first_week["average_speed"], 4.6875, "total distance / total time, not a mean of speeds");
    assert_eq!(items[1]["average_speed"].as_f64().unwrap(), 110.0 / 30.0);

    // The same filter language narrows the runs; paging is over weeks.
    let res = app
        .get(
            &format!("/api/v1/runs/reports/weekly?filter={}", urlencode("date lt '2016-01-01'")),
            Some(&me.access),
        )
        .await;
    let early: Value = res.json().await.unwrap();
    assert_eq!(early["total"], 2);
    let oldest: Value = app
        .get("/api/v1/runs/reports/weekly?sort=week_start&count=1&page=1", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oldest["items"][0]["week_start"], "2015-01-05");
    let res = app.get("/api/v1/runs/reports/weekly?sort=distance", Some(&me.access)).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_sort").await;
    // Other users' runs stay out of the report.
    let other = app.register("other").await;
    let theirs: Value =
        app.get("/api/v1/runs/reports/weekly", Some(&other.access)).await.json().await.unwrap();
    assert_eq!(theirs["total"], 0);
}

async fn import_is_all_or_nothing(backend: Backend) {
    let (app, _weather, me) = setup(backend).await;
    let bad = "2015-01-01,32.0853 34.7818,2000,405\n2015-01-02,32.0853 34.7818,2000,405\n2015-01-03,nowhere,2000,405\n";
    let problem = assert_problem(
        import(&app, &me.access, bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "line 3");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("location"));
    assert_eq!(list(&app, &me.access, "").await["total"], 0, "nothing stored");
    let res = app
        .client
        .post(app.url("/api/v1/runs/import"))
        .bearer_auth(&me.access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let res = import(&app, &me.access, &format!("date,location,distance,time\n{DATASET}")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["imported"], 18);
    // Many rows go in several multi-row statements; all of them land, all are queued.
    let many: String = (0..101)
        .map(|i| format!("2020-{:02}-{:02},60.1 24.9,{},600\n", i % 12 + 1, i % 28 + 1, 1000 + i))
        .collect();
    let res = import(&app, &me.access, &many).await;
    assert_eq!(res.json::<Value>().await.unwrap()["imported"], 101);
    assert_eq!(list(&app, &me.access, "filter=date%20ge%20'2020-01-01'").await["total"], 101);
    let queued: u64 =
        app.state.db.count(Sql::dynamic("SELECT COUNT(*) FROM weather_jobs"), &[]).await.unwrap();
    assert_eq!(queued, 18 + 101);
}

async fn weather_is_retried_from_the_queue(backend: Backend) {
    let (app, weather, me) = setup(backend).await;
    let body = json!({"date": "2016-05-01", "distance": 3000, "time": 900, "location": {"lat": 60.17, "lon": 24.94}});
    for mode in [Mode::ServerError, Mode::Hang, Mode::Garbage] {
        weather.set(mode);
        let run: Value = app.post_json("/api/v1/runs", &body, Some(&me.access)).await.json().await.unwrap();
        assert_eq!(run["weather"]["status"], "pending", "{mode:?}");
        assert!(run["weather"].get("summary").is_none());
    }
    // The provider recovers; the queue fills the weather in (restart-safe: it is a table).
    weather.set(Mode::Ok);
    assert_eq!(hallpass::runs::weather_jobs::process_due(&app.state).await.unwrap(), 3);
    let page = list(&app, &me.access, "filter=weather.status%20eq%20'ok'").await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["weather"]["summary"], "rain");

    // A provider that keeps failing: backoff, then `unavailable` after the last try.
    weather.set(Mode::ServerError);
    let run: Value = app.post_json("/api/v1/runs", &body, Some(&me.access)).await.json().await.unwrap();
    let path = format!("/api/v1/runs/{}", run["id"].as_str().unwrap());
    let mut tries = 0;
    for _ in 0..20 {
        tries += hallpass::runs::weather_jobs::process_due(&app.state).await.unwrap();
        assert_eq!(
            hallpass::runs::weather_jobs::process_due(&app.state).await.unwrap(),
            0,
            "not due again at once"
        );
        app.clock.advance(3600);
    }
    assert_eq!(tries as i64, hallpass::runs::weather_jobs::MAX_ATTEMPTS);
    let me = app.login_ok("runner").await;
    let run: Value = app.get(&path, Some(&me.access)).await.json().await.unwrap();
    assert_eq!(run["weather"]["status"], "unavailable");
    // Rate limiting (429) pauses the job without using up the run's tries.
    weather.set(Mode::RateLimited);
    let run: Value = app.post_json("/api/v1/runs", &body, Some(&me.access)).await.json().await.unwrap();
    assert_eq!(run["weather"]["status"], "pending");
    for _ in 0..(2 * hallpass::runs::weather_jobs::MAX_ATTEMPTS) {
        assert_eq!(hallpass::runs::weather_jobs::process_due(&app.state).await.unwrap(), 1);
        app.clock.advance(31);
    }
    weather.set(Mode::Ok);
    hallpass::runs::weather_jobs::process_due(&app.state).await.unwrap();
    let path = format!("/api/v1/runs/{}", run["id"].as_str().unwrap());
    let me = app.login_ok("runner").await;
    let run: Value = app.get(&path, Some(&me.access)).await.json().await.unwrap();
    assert_eq!(run["weather"]["status"], "ok");
    // A provider that refuses the date (4xx) is final at once.
    weather.set(Mode::ClientError);
    let run: Value = app.post_json("/api/v1/runs", &body, Some(&me.access)).await.json().await.unwrap();
    assert_eq!(run["weather"]["status"], "unavailable");
}

async fn strict_weather_refuses_runs(backend: Backend) {
    let weather = WeatherStub::start().await;
    let mut options = weather.options();
    options.args.extend(["--weather-required".to_owned(), "true".to_owned()]);
    let app = TestApp::spawn_with(backend, options).await;
    let me = app.register("strict").await;
    weather.set(Mode::ServerError);
    let body = json!({"date": "2016-05-01", "distance": 3000, "time": 900, "location": "60.17 24.94"});
    let res = app.post_json("/api/v1/runs", &body, Some(&me.access)).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    assert_eq!(import(&app, &me.access, DATASET).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(list(&app, &me.access, "").await["total"], 0, "nothing stored");
    // A date the provider refuses for good can never succeed: 422 naming it, no
    // invitation to retry.
    weather.set(Mode::ClientError);
    let res = app.post_json("/api/v1/runs", &body, Some(&me.access)).await;
    assert!(!res.headers().contains_key("retry-after"));
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "date", "{problem}");
    assert_eq!(list(&app, &me.access, "").await["total"], 0, "nothing stored");
    weather.set(Mode::Ok);
    assert_eq!(app.post_json("/api/v1/runs", &body, Some(&me.access)).await.status(), StatusCode::CREATED);
}

async fn patch_recomputes_speed_week_and_weather(backend: Backend) {
    let (app, weather, me) = setup(backend).await;
    let body = json!({"date": "2016-05-01", "distance": 3000, "time": 1000, "location": "60.17 24.94"});
    let run: Value = app.post_json("/api/v1/runs", &body, Some(&me.access)).await.json().await.unwrap();
    let path = format!("/api/v1/runs/{}", run["id"].as_str().unwrap());
    let calls = weather.calls();
    let res = app.patch_json(&path, &json!({"distance": 4000, "notes": "faster"}), &me.access).await;
    let patched: Value = res.json().await.unwrap();
    assert_eq!((patched["speed"].as_f64(), patched["notes"].as_str()), (Some(4.0), Some("faster")));
    assert_eq!(weather.calls(), calls, "same day and place: no new lookup");
    weather.set(Mode::ServerError);
    let patched: Value =
        app.patch_json(&path, &json!({"date": "2017-01-01"}), &me.access).await.json().await.unwrap();
    assert_eq!(patched["week"], json!({"year": 2016, "week": 52}));
    assert_eq!(patched["weather"]["status"], "pending");
    assert_eq!(weather.calls(), calls + 1);
    for body in
        [json!({"time": 0}), json!({"id": "x"}), json!({"user_id": "x"}), json!({"date": "yesterday"})]
    {
        let res = app.patch_json(&path, &body, &me.access).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

async fn keyset_paging_walks_every_run_once(backend: Backend) {
    let (app, _weather, me) = setup(backend).await;
    import(&app, &me.access, DATASET).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = match &after {
            Some(id) => format!("count=5&total=false&after={id}"),
            None => "count=5&total=false".to_owned(),
        };
        let page = list(&app, &me.access, &query).await;
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        after = items.last().unwrap()["id"].as_str().map(str::to_owned);
        seen.extend(items.iter().map(|r| r["date"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen.len(), 18);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, no run twice");
    let res = app.get("/api/v1/runs?after=nope", Some(&me.access)).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

/// The totals of runs and of weeks matching `query`, the same on both nodes.
async fn totals_on(nodes: &[&TestApp; 2], token: &str, query: &str) -> (u64, u64) {
    let mut totals = Vec::new();
    for node in nodes {
        let runs = list(node, token, query).await["total"].as_u64().unwrap();
        let res = node.get(&format!("/api/v1/runs/reports/weekly?{query}"), Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK, "{query}");
        let weeks = res.json::<Value>().await.unwrap()["total"].as_u64().unwrap();
        totals.push((runs, weeks));
    }
    assert_eq!(totals[0], totals[1], "{query}: the nodes disagree");
    totals[0]
}

/// Totals of runs and of weeks are cached per user while their runs are unchanged:
/// every kind of change, on this node or another, must show in the next total.
async fn totals_follow_every_change_to_the_runs(backend: Backend) {
    let (app, weather, me) = setup(backend).await;
    let other_node = app.another_node().await;
    let nodes = [&app, &other_node];
    // One item a page: a full page, so the totals come from a count.
    let long = "filter=distance%20gt%201000&count=1";
    let csv = "date,location,distance,time\n2015-01-05,32.0 34.0,5000,1500\n2015-01-06,32.0 34.0,6000,1500\n\
               2015-01-07,32.0 34.0,7000,1500\n2015-01-08,32.0 34.0,800,300\n";
    assert_eq!(import(&app, &me.access, csv).await.status(), StatusCode::CREATED);
    // Imports get their weather from the queue (a node's worker may get there first).
    hallpass::runs::weather_jobs::process_due(&app.state).await.unwrap();
    assert_eq!(totals_on(&nodes, &me.access, "filter=weather.status%20eq%20'ok'&count=1").await, (4, 1));
    assert_eq!(totals_on(&nodes, &me.access, long).await, (3, 1));
    assert_eq!(totals_on(&nodes, &me.access, long).await, (3, 1), "the same count again");

    let body = json!({"date": "2015-02-01", "distance": 9000, "time": 2000, "location": "32.0 34.0"});
    let created: Value = app.post_json("/api/v1/runs", &body, Some(&me.access)).await.json().await.unwrap();
    let path = format!("/api/v1/runs/{}", created["id"].as_str().unwrap());
    assert_eq!(totals_on(&nodes, &me.access, long).await, (4, 2), "a new run in a new week");

    let res = app.patch_json(&path, &json!({"distance": 500}), &me.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        totals_on(&nodes, &me.access, long).await,
        (3, 1),
        "an edit that takes a run out of the filter"
    );

    let res =
        other_node.patch_json(&path, &json!({"date": "2015-02-02", "distance": 9500}), &me.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        totals_on(&nodes, &me.access, long).await,
        (4, 2),
        "an edit that moves it (new weather) and brings it back"
    );

    assert_eq!(app.delete(&path, &me.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(totals_on(&nodes, &me.access, long).await, (3, 1), "a deletion");

    // The weather queue changes runs too.
    let pending = "filter=weather.status%20eq%20'pending'&count=1";
    weather.set(Mode::ServerError);
    for date in ["2015-03-01", "2015-03-02"] {
        let body = json!({"date": date, "distance": 3000, "time": 900, "location": "32.0 34.0"});
        assert_eq!(
            app.post_json("/api/v1/runs", &body, Some(&me.access)).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(totals_on(&nodes, &me.access, pending).await, (2, 2));
    weather.set(Mode::Ok);
    hallpass::runs::weather_jobs::process_due(&other_node.state).await.unwrap();
    assert_eq!(totals_on(&nodes, &me.access, pending).await, (0, 0), "weather filled in by the queue");
    assert_eq!(totals_on(&nodes, &me.access, "filter=weather.status%20eq%20'ok'&count=1").await, (6, 3));
}

/// Many writers at once (SQLite takes them one at a time) beside readers: every write
/// lands and every read answers, and the totals then count every write.
async fn simultaneous_writes_and_reads_all_land(backend: Backend) {
    let (app, _weather, me) = setup(backend).await;
    const WRITERS: usize = 24;
    let creates = (0..WRITERS).map(|i| {
        let body = json!({"date": format!("2016-04-{:02}", i + 1), "distance": 1000 + i, "time": 600,
                          "location": "32.0 34.0"});
        let app = &app;
        let token = &me.access;
        async move { app.post_json("/api/v1/runs", &body, Some(token)).await.status() }
    });
    let reads =
        (0..WRITERS).map(|_| async { list(&app, &me.access, "count=1").await["total"].as_u64().unwrap() });
    let (statuses, totals) =
        tokio::join!(futures_util::future::join_all(creates), futures_util::future::join_all(reads));
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "{statuses:?}");
    assert_eq!(totals.len(), WRITERS, "every read answered");
    assert_eq!(totals_on(&[&app, &app], &me.access, "count=1").await, (WRITERS as u64, 4));
}

/// A large import is parsed off the async workers and in one pass, and other writes
/// wait for its transaction rather than failing; the node stays ready throughout.
async fn a_large_import_leaves_the_server_responsive(backend: Backend) {
    let (app, _weather, me) = setup(backend).await;
    const ROWS: usize = 20_000;
    let csv: String = (0..ROWS)
        .map(|i| format!("2015-{:02}-{:02},32.0 34.0,{},1500\n", 1 + i % 12, 1 + i % 28, 3000 + i % 5000))
        .collect();
    let others = async {
        let mut statuses = Vec::new();
        for i in 0..5 {
            let body = json!({"date": format!("2016-05-0{}", i + 1), "distance": 5000, "time": 1500,
                              "location": "32.0 34.0"});
            statuses.push(app.post_json("/api/v1/runs", &body, Some(&me.access)).await.status());
            statuses.push(app.get("/readyz", None).await.status());
        }
        statuses
    };
    let (imported, statuses) = tokio::join!(import(&app, &me.access, &csv), others);
    assert_eq!(imported.status(), StatusCode::CREATED);
    assert_eq!(imported.json::<Value>().await.unwrap()["imported"], ROWS);
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    assert_eq!(list(&app, &me.access, "count=1").await["total"], ROWS + 5);
}
