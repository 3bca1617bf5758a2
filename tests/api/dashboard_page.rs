//! The dashboard: totals, weekly charts as inline SVG with text alternatives, and
//! recent runs with their weather.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, Tokens};
use crate::on_both_backends;
use crate::weather_stub::WeatherStub;

on_both_backends!(the_dashboard_sums_up_the_weeks);

/// A server with weather, and `walker` with runs in two weeks (12 km, then 20 km).
pub async fn runner(backend: Backend) -> (TestApp, WeatherStub, Tokens) {
    let weather = WeatherStub::start().await;
    let mut options = crate::helpers::Options::default();
    options.args.extend(weather.args());
    let app = TestApp::spawn_with(backend, options).await;
    let tokens = app.register("walker").await;
    for (date, distance, time) in
        [("2024-01-02", 5000, 1500), ("2024-01-04", 7000, 2100), ("2024-01-09", 20000, 7200)]
    {
        let run = json!({"date": date, "distance": distance, "time": time, "location": "60.17 24.94"});
        let res = app.post_json("/api/v1/runs", &run, Some(&tokens.access)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    (app, weather, tokens)
}

async fn the_dashboard_sums_up_the_weeks(backend: Backend) {
    let (app, _weather, _) = runner(backend).await;
    let cookie = crate::pages::signed_in(&app, "walker").await;
    let res = app.client.get(app.url("/dashboard")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    for total in ["<dd>3</dd>", "<dd>32.0 km</dd>", "<dd>3.0 h</dd>", "<dd>20.0 km</dd>"] {
        assert!(html.contains(total), "{total} in {html}");
    }
    assert_eq!(html.matches("role=\"img\"").count(), 2, "two charts");
    assert!(
        html.contains("2 weeks from 2024-01-01 to 2024-01-08; highest 20.0 km in the week of 2024-01-08."),
        "{html}"
    );
    assert_eq!(html.matches("<rect class=\"bar\"").count(), 2);
    assert!(html.contains("<td>2024-01-09</td><td>20.00</td><td>2:00:00</td><td>6:00 /km</td>"), "{html}");
    // An empty account has a dashboard too.
    app.register("newbie").await;
    let cookie = crate::pages::signed_in(&app, "newbie").await;
    let html = app
        .client
        .get(app.url("/dashboard"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No runs yet."));
}
