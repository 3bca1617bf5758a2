//! The role matrix: every route × every kind of caller gets exactly the intended
//! status. The route list comes from the router's own OpenAPI description, so a new
//! route without a row here fails the test.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens};
use crate::idp::Idp;
use crate::on_both_backends;
use crate::weather_stub::WeatherStub;

on_both_backends!(every_route_answers_every_caller_as_intended);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    Anonymous,
    User,
    Manager,
    Admin,
    ApiToken,
    Outside,
}

const PERSONAS: [Persona; 6] = [
    Persona::Anonymous,
    Persona::User,
    Persona::Manager,
    Persona::Admin,
    Persona::ApiToken,
    Persona::Outside,
];

/// A deployment with one caller of each kind, and a plain user (bob) to act on.
pub struct World {
    pub app: TestApp,
    pub idp: Idp,
    /// Kept alive for the server's weather lookups.
    pub _weather: WeatherStub,
    pub alice: Tokens,
    pub mia: Tokens,
    pub root: Tokens,
    pub bob: Tokens,
    pub alice_api_token: String,
    pub outside_token: String,
    pub ids: std::collections::HashMap<&'static str, String>,
}

impl World {
    pub async fn new(backend: Backend) -> Self {
        let idp = Idp::start().await;
        let weather = WeatherStub::start().await;
        let mut options = idp.options();
        options.args.extend(weather.args());
        let app = TestApp::spawn_with(backend, options).await;
        let root = app.register("root").await;
        let root_id = root.user_id.clone().unwrap();
        // The first administrator is made from the shell in real life (`hallpass user create`).
        app.grant_roles(&root_id, &["admin"]).await;
        let mia = app.register("mia").await;
        let mia_id = mia.user_id.clone().unwrap();
        let res = app
            .put_json(&format!("/api/v1/users/{mia_id}/roles"), &json!({"roles": ["manager"]}), &root.access)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let alice = app.register("alice").await;
        let bob = app.register("bob").await;
        let res = app.post_json("/api/v1/tokens", &json!({"name": "ci"}), Some(&alice.access)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let alice_api_token = res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
        let outside_token = idp.token("olly-subject", app.clock_now());
        let res =
            app.post_json("/api/v1/auth/external", &json!({"username": "olly"}), Some(&outside_token)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let olly_id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let ids = [
            ("root", root_id),
            ("mia", mia_id),
            ("alice", alice.user_id.clone().unwrap()),
            ("bob", bob.user_id.clone().unwrap()),
            ("olly", olly_id),
        ]
        .into_iter()
        .collect();
        Self { app, idp, _weather: weather, alice, mia, root, bob, alice_api_token, outside_token, ids }
    }

    pub fn id(&self, name: &str) -> &str {
        &self.ids[name]
    }

    /// The persona's own user id.
    fn own_id(&self, persona: Persona) -> &str {
        match persona {
            Persona::User | Persona::ApiToken | Persona::Anonymous => self.id("alice"),
            Persona::Manager => self.id("mia"),
            Persona::Admin => self.id("root"),
            Persona::Outside => self.id("olly"),
        }
    }

    fn username(persona: Persona) -> &'static str {
        match persona {
            Persona::Manager => "mia",
            Persona::Admin => "root",
            _ => "alice",
        }
    }

    /// The persona's credential; `fresh` gives a session nobody else uses (for
    /// requests that end it).
    async fn credential(&self, persona: Persona, fresh: bool) -> Option<String> {
        let session = |tokens: &Tokens| tokens.access.clone();
        Some(match persona {
            Persona::Anonymous => return None,
            Persona::User | Persona::Manager | Persona::Admin if fresh => {
                self.app.login_ok(Self::username(persona)).await.access
            }
            Persona::User => session(&self.alice),
            Persona::Manager => session(&self.mia),
            Persona::Admin => session(&self.root),
            Persona::ApiToken => self.alice_api_token.clone(),
            Persona::Outside => self.outside_token.clone(),
        })
    }

    /// A new plain user to be changed or removed.
    async fn victim(&self) -> String {
        let name = format!("victim{}", uuid::Uuid::new_v4().simple());
        let res = self
            .app
            .post_json(
                "/api/v1/users",
                &json!({"username": &name[..20], "password": PASSWORD}),
                Some(&self.root.access),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }
}

/// A run of alice's, to be read, changed or removed.
async fn alice_run(world: &World) -> String {
    let body = json!({"date": "2016-05-01", "distance": 5000, "time": 1500, "location": "60.17 24.94"});
    let res = world.app.post_json("/api/v1/runs", &body, Some(&world.alice.access)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// A file of root's (an admin's), to be read, shared or removed.
async fn root_file(world: &World) -> String {
    let url = world.app.url("/api/v1/files?name=matrix.txt");
    let res = world.app.client.post(url).bearer_auth(&world.root.access).body("hello").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// What each row sends, prepared per persona.
async fn prepare(
    world: &World,
    route: &str,
    persona: Persona,
) -> (Method, String, Option<Value>, Option<String>) {
    let app = &world.app;
    let cred = |fresh| world.credential(persona, fresh);
    let unique = || format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    match route {
        "POST /api/v1/auth/register" => (
            Method::POST,
            route[5..].into(),
            Some(json!({"username": unique(), "password": PASSWORD})),
            cred(false).await,
        ),
        "POST /api/v1/auth/login" => (
            Method::POST,
            route[5..].into(),
            Some(json!({"username": "bob", "password": PASSWORD})),
            cred(false).await,
        ),
        "POST /api/v1/auth/refresh" => {
            let refresh = app.login_ok("bob").await.refresh;
            (Method::POST, route[5..].into(), Some(json!({"refresh_token": refresh})), cred(false).await)
        }
        "POST /api/v1/auth/logout" => (Method::POST, route[5..].into(), Some(json!({})), cred(true).await),
        "GET /api/v1/auth/verify"
        | "GET /api/v1/auth/sessions"
        | "GET /api/v1/users/me"
        | "GET /api/v1/tokens"
        | "GET /api/v1/users"
        | "GET /api/v1/audit"
        | "GET /healthz"
        | "GET /readyz"
        | "GET /metrics"
        | "GET /openapi.json"
        | "GET /.well-known/jwks.json" => (Method::GET, route[4..].into(), None, cred(false).await),
        "DELETE /api/v1/auth/sessions/{id}" => {
            // One of the caller's own sessions (another user's is in its own row below).
            let own = match persona {
                Persona::Manager => app.login_ok("mia").await,
                Persona::Admin => app.login_ok("root").await,
                _ => app.login_ok("alice").await,
            };
            (Method::DELETE, format!("/api/v1/auth/sessions/{}", own.session_id), None, cred(false).await)
        }
        "DELETE /api/v1/auth/sessions/{id} (someone else's)" => (
            Method::DELETE,
            format!("/api/v1/auth/sessions/{}", world.bob.session_id),
            None,
            cred(false).await,
        ),
        "POST /api/v1/auth/external" => {
            (Method::POST, route[5..].into(), Some(json!({"username": unique()})), cred(false).await)
        }
        "PATCH /api/v1/users/me" => {
            (Method::PATCH, route[6..].into(), Some(json!({"name": "New Name"})), cred(false).await)
        }
        "DELETE /api/v1/users/me" => {
            // Closing an account: each caller closes a throwaway one of its own kind.
            let throwaway = World::throwaway(world, persona).await;
            (Method::DELETE, route[7..].into(), None, throwaway)
        }
        "POST /api/v1/users/me/password" => {
            // A password change ends the user's other sessions: use throwaway accounts.
            let body = json!({"current_password": PASSWORD, "new_password": PASSWORD});
            (Method::POST, route[5..].into(), Some(body), World::throwaway(world, persona).await)
        }
        "POST /api/v1/users" => (
            Method::POST,
            route[5..].into(),
            Some(json!({"username": unique(), "password": PASSWORD})),
            cred(false).await,
        ),
        "POST /api/v1/users (a manager)" => {
            let body = json!({"username": unique(), "password": PASSWORD, "roles": ["manager"]});
            (Method::POST, "/api/v1/users".into(), Some(body), cred(false).await)
        }
        "GET /api/v1/users/{id}" => {
            (Method::GET, format!("/api/v1/users/{}", world.id("bob")), None, cred(false).await)
        }
        "GET /api/v1/users/{id} (self)" => {
            (Method::GET, format!("/api/v1/users/{}", world.own_id(persona)), None, cred(false).await)
        }
        "GET /api/v1/users/{id} (an admin)" => {
            (Method::GET, format!("/api/v1/users/{}", world.id("root")), None, cred(false).await)
        }
        "PATCH /api/v1/users/{id}" => (
            Method::PATCH,
            format!("/api/v1/users/{}", world.id("bob")),
            Some(json!({"name": "Bob B."})),
            cred(false).await,
        ),
        "PATCH /api/v1/users/{id} (attributes)" => {
            let body = json!({"attributes": {"policy": "A1B2C3D4"}});
            (Method::PATCH, format!("/api/v1/users/{}", world.id("bob")), Some(body), cred(false).await)
        }
        "DELETE /api/v1/users/{id}" => {
            (Method::DELETE, format!("/api/v1/users/{}", world.victim().await), None, cred(false).await)
        }
        "PUT /api/v1/users/{id}/roles" => {
            let path = format!("/api/v1/users/{}/roles", world.victim().await);
            (Method::PUT, path, Some(json!({"roles": ["operator"]})), cred(false).await)
        }
        "POST /api/v1/tokens" => {
            (Method::POST, route[5..].into(), Some(json!({"name": "matrix"})), cred(false).await)
        }
        "DELETE /api/v1/tokens/{id}" => {
            // A token of alice's: hers to revoke, an admin's too, nobody else's.
            let res =
                app.post_json("/api/v1/tokens", &json!({"name": "doomed"}), Some(&world.alice.access)).await;
            let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
            (Method::DELETE, format!("/api/v1/tokens/{id}"), None, cred(false).await)
        }
        "POST /api/v1/runs" => {
            let body = json!({"date": "2016-05-01", "distance": 5000, "time": 1500, "location": {"lat": 60.17, "lon": 24.94}});
            (Method::POST, route[5..].into(), Some(body), cred(false).await)
        }
        "GET /api/v1/runs" | "GET /api/v1/runs/reports/weekly" => {
            (Method::GET, route[4..].into(), None, cred(false).await)
        }
        "GET /api/v1/runs/{id}" => {
            (Method::GET, format!("/api/v1/runs/{}", alice_run(world).await), None, cred(false).await)
        }
        "PATCH /api/v1/runs/{id}" => {
            let path = format!("/api/v1/runs/{}", alice_run(world).await);
            (Method::PATCH, path, Some(json!({"notes": "windy"})), cred(false).await)
        }
        "DELETE /api/v1/runs/{id}" => {
            (Method::DELETE, format!("/api/v1/runs/{}", alice_run(world).await), None, cred(false).await)
        }
        "POST /api/v1/runs/import" => {
            // A CSV body: marked as a JSON string and sent as text/csv below.
            let csv = "2015-01-01,32.0853 34.7818,2000,405\n";
            (Method::POST, route[5..].into(), Some(Value::String(csv.into())), cred(false).await)
        }
        "POST /api/v1/files" => {
            // A raw upload: marked as a JSON string and sent as text/csv below.
            (
                Method::POST,
                "/api/v1/files?name=m.csv".into(),
                Some(Value::String("a,b\n".into())),
                cred(false).await,
            )
        }
        "GET /api/v1/files" | "GET /api/v1/files/usage" => {
            (Method::GET, route[4..].into(), None, cred(false).await)
        }
        "GET /api/v1/files/{id}" => {
            (Method::GET, format!("/api/v1/files/{}", root_file(world).await), None, cred(false).await)
        }
        "GET /api/v1/files/{id}/content" => (
            Method::GET,
            format!("/api/v1/files/{}/content", root_file(world).await),
            None,
            cred(false).await,
        ),
        "DELETE /api/v1/files/{id}" => {
            (Method::DELETE, format!("/api/v1/files/{}", root_file(world).await), None, cred(false).await)
        }
        "POST /api/v1/files/{id}/links" => {
            let path = format!("/api/v1/files/{}/links", root_file(world).await);
            (Method::POST, path, Some(json!({"expires_in": 60})), cred(false).await)
        }
        other => panic!("no request for {other}"),
    }
}

impl World {
    /// A new account of `persona`'s kind, and its credential.
    async fn throwaway(world: &World, persona: Persona) -> Option<String> {
        let app = &world.app;
        let name = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let tokens = match persona {
            Persona::Anonymous => return None,
            Persona::Outside => {
                let token = world.idp.token(&name, app.clock_now());
                let res =
                    app.post_json("/api/v1/auth/external", &json!({"username": name}), Some(&token)).await;
                assert_eq!(res.status(), StatusCode::CREATED);
                return Some(token);
            }
            _ => app.register(&name).await,
        };
        let id = tokens.user_id.clone().unwrap();
        let role = match persona {
            Persona::Manager => Some("manager"),
            Persona::Admin => Some("admin"),
            _ => None,
        };
        if let Some(role) = role {
            let res = app
                .put_json(&format!("/api/v1/users/{id}/roles"), &json!({"roles": [role]}), &world.root.access)
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
        if persona == Persona::ApiToken {
            let res = app.post_json("/api/v1/tokens", &json!({"name": "self"}), Some(&tokens.access)).await;
            return Some(res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned());
        }
        Some(tokens.access)
    }
}

/// Expected status per persona: anonymous, user, manager, admin, API token, outside.
const MATRIX: &[(&str, [u16; 6])] = &[
    ("POST /api/v1/auth/register", [201, 201, 201, 201, 201, 201]),
    ("POST /api/v1/auth/login", [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/refresh", [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/logout", [401, 204, 204, 204, 403, 403]),
    ("GET /api/v1/auth/verify", [401, 200, 200, 200, 200, 200]),
    ("GET /api/v1/auth/sessions", [401, 200, 200, 200, 403, 403]),
    ("DELETE /api/v1/auth/sessions/{id}", [401, 204, 204, 204, 403, 403]),
    ("DELETE /api/v1/auth/sessions/{id} (someone else's)", [401, 404, 404, 404, 403, 403]),
    ("POST /api/v1/auth/external", [401, 401, 401, 401, 401, 409]),
    ("GET /api/v1/users/me", [401, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/users/me", [401, 200, 200, 200, 200, 200]),
    ("DELETE /api/v1/users/me", [401, 204, 204, 204, 204, 204]),
    ("POST /api/v1/users/me/password", [401, 204, 204, 204, 403, 403]),
    ("GET /api/v1/users", [401, 403, 200, 200, 403, 403]),
    ("POST /api/v1/users", [401, 403, 201, 201, 403, 403]),
    ("POST /api/v1/users (a manager)", [401, 403, 403, 201, 403, 403]),
    ("GET /api/v1/users/{id}", [401, 404, 200, 200, 404, 404]),
    ("GET /api/v1/users/{id} (self)", [401, 200, 200, 200, 200, 200]),
    ("GET /api/v1/users/{id} (an admin)", [401, 404, 404, 200, 404, 404]),
    ("PATCH /api/v1/users/{id}", [401, 404, 200, 200, 404, 404]),
    ("PATCH /api/v1/users/{id} (attributes)", [401, 404, 403, 200, 404, 404]),
    ("DELETE /api/v1/users/{id}", [401, 404, 204, 204, 404, 404]),
    ("PUT /api/v1/users/{id}/roles", [401, 403, 403, 200, 403, 403]),
    ("POST /api/v1/tokens", [401, 201, 201, 201, 403, 201]),
    ("GET /api/v1/tokens", [401, 200, 200, 200, 200, 200]),
    ("DELETE /api/v1/tokens/{id}", [401, 204, 404, 204, 204, 404]),
    ("GET /api/v1/audit", [401, 403, 403, 200, 403, 403]),
    ("POST /api/v1/runs", [401, 201, 201, 201, 201, 201]),
    ("GET /api/v1/runs", [401, 200, 200, 200, 200, 200]),
    // Alice's run: hers (also through her API token) and the admin's to see; managers
    // manage users, not runs.
    ("GET /api/v1/runs/{id}", [401, 200, 404, 200, 200, 404]),
    ("PATCH /api/v1/runs/{id}", [401, 200, 404, 200, 200, 404]),
    ("DELETE /api/v1/runs/{id}", [401, 204, 404, 204, 204, 404]),
    ("GET /api/v1/runs/reports/weekly", [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/runs/import", [401, 201, 201, 201, 201, 201]),
    // Operators and admins upload; every signed-in user lists and downloads; only the
    // owner (root here) or files:admin deletes and shares.
    ("POST /api/v1/files", [401, 403, 403, 201, 403, 403]),
    ("GET /api/v1/files", [401, 200, 200, 200, 200, 200]),
    ("GET /api/v1/files/usage", [401, 200, 200, 200, 200, 200]),
    ("GET /api/v1/files/{id}", [401, 200, 200, 200, 200, 200]),
    ("GET /api/v1/files/{id}/content", [401, 200, 200, 200, 200, 200]),
    ("DELETE /api/v1/files/{id}", [401, 403, 403, 204, 403, 403]),
    ("POST /api/v1/files/{id}/links", [401, 403, 403, 201, 403, 403]),
    ("GET /healthz", [200; 6]),
    ("GET /readyz", [200; 6]),
    ("GET /metrics", [200; 6]),
    ("GET /openapi.json", [200; 6]),
    ("GET /.well-known/jwks.json", [200; 6]),
];

async fn every_route_answers_every_caller_as_intended(backend: Backend) {
    // Every route the router serves has a row.
    let (_, openapi) = hallpass::http::router::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let mut served = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            served.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let covered: BTreeSet<String> =
        MATRIX.iter().map(|(route, _)| route.split(" (").next().unwrap().to_owned()).collect();
    let missing: Vec<&String> = served.difference(&covered).collect();
    assert!(missing.is_empty(), "routes without a row in the role matrix: {missing:?}");

    let world = World::new(backend).await;
    let mut wrong = Vec::new();
    for (route, expected) in MATRIX {
        for (persona, want) in PERSONAS.iter().zip(expected) {
            let (method, path, body, credential) = prepare(&world, route, *persona).await;
            let mut req = world.app.client.request(method, world.app.url(&path));
            match &body {
                Some(Value::String(csv)) => req = req.header("content-type", "text/csv").body(csv.clone()),
                Some(body) => req = req.json(body),
                None => {}
            }
            if let Some(credential) = &credential {
                req = req.bearer_auth(credential);
            }
            let status = req.send().await.unwrap().status();
            if status != StatusCode::from_u16(*want).unwrap() {
                wrong.push(format!("{route} as {persona:?}: got {status}, want {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
