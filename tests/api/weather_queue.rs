//! The weather queue in bulk: runs imported from an older system get their weather
//! from few provider requests, one per place and date range.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use crate::weather_stub::WeatherStub;

on_both_backends!(ten_thousand_imported_runs_get_their_weather_from_few_requests);

/// Passes the server's worker makes in five minutes (one every 15 s).
const PASSES_IN_FIVE_MINUTES: usize = 20;

async fn ten_thousand_imported_runs_get_their_weather_from_few_requests(backend: Backend) {
    const RUNS: usize = 10_000;
    const PLACES: usize = 50;
    let weather = WeatherStub::start().await;
    let app = TestApp::spawn_with(backend, weather.options()).await;
    let me = app.register("runner").await;
    // Two years of runs at 50 places, each place's runs a few metres apart.
    let start = time::macros::date!(2021 - 01 - 01);
    let csv: String = (0..RUNS)
        .map(|i| {
            let place = (i % PLACES) as f64;
            let jitter = (i / PLACES % 7) as f64 * 0.001;
            let date = start + time::Duration::days((i * 37 % 730) as i64);
            format!("{date},{:.4} {:.4},{},600\n", 10.0 + place * 0.7 + jitter, 20.0 + place * 0.9, 1000 + i)
        })
        .collect();
    let res = app
        .client
        .post(app.url("/api/v1/runs/import"))
        .bearer_auth(&me.access)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["imported"], RUNS);
    let asked_before = weather.calls();

    let mut passes = 0;
    while hallpass::runs::weather_jobs::process_due(&app.state).await.unwrap() > 0 {
        passes += 1;
        assert!(passes <= PASSES_IN_FIVE_MINUTES, "still pending after {passes} passes");
    }
    let requests = weather.calls() - asked_before;
    assert!(requests <= 200, "{requests} provider requests");
    assert!(requests >= PLACES, "one request cannot answer two places: {requests}");
    let res = app.get("/api/v1/runs?filter=weather.status%20eq%20'ok'&limit=1", Some(&me.access)).await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["total"], RUNS, "{page}");
    assert_eq!(page["items"][0]["weather"]["summary"], "rain");
}
