//! The report's outputs from one short run against an in-process echo server: the table on
//! stdout, the same figures in `--json-out`, the per-second chart of `--plot`; and
//! `--compare` on two JSON reports.

mod util;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use util::{echo_server, run_dummyclient, stderr};

/// A fresh scratch directory for this test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("dummyclient-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The table's rows as figure -> value: a row is `[section words] figure value`.
fn table(stdout: &str) -> HashMap<String, f64> {
    stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (value, figure) = (words.last()?, words.get(words.len().checked_sub(2)?)?);
            Some((figure.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn table_json_out_and_plot_agree_on_one_run() {
    let dir = scratch("run");
    let (json_path, svg_path) = (dir.join("run.json"), dir.join("run.svg"));
    let server = echo_server(1);
    let addr = server.local_addr().unwrap().to_string();
    let args = [
        "--addr",
        &addr,
        "--clients",
        "8",
        "--inflight",
        "2",
        "--duration",
        "2",
        "--threads",
        "1",
        "--json-out",
        json_path.to_str().unwrap(),
        "--plot",
        svg_path.to_str().unwrap(),
    ];
    let output = run_dummyclient(&args, Duration::from_secs(30));
    server.stop();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));

    // The table and the JSON of the same run carry the same figures.
    let rows = table(&stdout);
    let json: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&json_path).unwrap().trim()).unwrap();
    let pairs = [
        ("msgs/s", "msgs_per_sec", 0.05),
        ("MB/s", "mb_per_sec", 0.0005),
        ("p50", "p50_us", 0.0),
        ("p90", "p90_us", 0.0),
        ("p99", "p99_us", 0.0),
        ("p99.9", "p999_us", 0.0),
        ("max", "max_us", 0.0),
        ("mean", "mean_us", 0.05),
        ("corrupt", "corrupt", 0.0),
        ("out_of_order", "out_of_order", 0.0),
        ("lost", "lost", 0.0),
        ("duplicates", "duplicates", 0.0),
        ("disconnects", "disconnects", 0.0),
        ("total", "errors", 0.0),
        ("connect_failures", "connect_failures", 0.0),
        ("late_sends", "late_sends", 0.0),
    ];
    for (row, key, tolerance) in pairs {
        let shown = *rows
            .get(row)
            .unwrap_or_else(|| panic!("no row {row}:\n{stdout}"));
        let exact = json[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no {key} in {json}"));
        assert!(
            (shown - exact).abs() <= tolerance,
            "{row} {shown} vs {key} {exact}"
        );
    }
    assert!(rows["msgs/s"] > 0.0 && rows["p50"] > 0.0, "{stdout}");
    assert!(stdout.contains("result: PASS"), "{stdout}");

    // The JSON keeps the points the chart is drawn from: one per second of the 2 s (the
    // hair sending lasts past 2 s is no point of its own), whose counts add up to the
    // messages the report's msgs/s counts.
    let timeline = json["timeline"]
        .as_array()
        .expect("a timeline in --json-out");
    assert_eq!(timeline.len(), 2, "{timeline:#?}");
    let mut counted = 0;
    for (second, point) in timeline.iter().enumerate() {
        let field = |key: &str| {
            point[key]
                .as_f64()
                .unwrap_or_else(|| panic!("no {key} in {point}"))
        };
        assert_eq!(field("t"), second as f64, "{point}");
        assert!((1.0..1.5).contains(&field("width_s")), "{point}");
        let rate = field("messages") / field("width_s");
        assert!((field("msgs_per_s") - rate).abs() < 1e-6, "{point}");
        assert!(field("p50_us") > 0.0 && field("p99_us") >= field("p50_us"));
        counted += point["messages"].as_u64().unwrap();
    }
    let window = json["msgs_per_sec"].as_f64().unwrap() * json["duration_secs"].as_f64().unwrap();
    assert!(
        (counted as f64 - window).abs() < 0.5,
        "points hold {counted} messages, the report's rate {window}"
    );

    // The chart is well-formed SVG with the three series and a point per second.
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect();
    for label in ["msgs/s", "p50", "p99", "latency µs"] {
        assert!(texts.iter().any(|t| t == label), "no {label}: {texts:?}");
    }
    assert!(
        !texts.iter().any(|t| t.ends_with(".0") || t.contains(" us")),
        "axis labels like 120000.0, or us for µs: {texts:?}"
    );
    let lines: Vec<usize> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            n.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .collect();
    // The three series have a point per second (2 s); the legend's two samples are lines
    // of two points too.
    assert!(
        lines.iter().filter(|&&points| points == 2).count() >= 5,
        "three series of one point per second (2 s), two legend lines: {lines:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_prints_ratios_without_a_server() {
    let dir = scratch("compare");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    std::fs::write(&a, r#"{"msgs_per_sec":2000.0,"p99_us":400,"errors":0,"model":"epoll","disconnect_reasons":{}}"#).unwrap();
    std::fs::write(&b, r#"{"msgs_per_sec":5000.0,"p99_us":300,"errors":0,"model":"uring","disconnect_reasons":{}}"#).unwrap();
    let output = run_dummyclient(
        &["--compare", a.to_str().unwrap(), b.to_str().unwrap()],
        Duration::from_secs(10),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));
    let row = |name: &str| -> Vec<&str> {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{stdout}"));
        line.split_whitespace().collect()
    };
    assert_eq!(row("figure"), ["figure", "a.json", "b.json", "b/a"]);
    assert_eq!(
        row("msgs_per_sec"),
        ["msgs_per_sec", "2000.000", "5000.000", "2.500"]
    );
    assert_eq!(row("p99_us"), ["p99_us", "400", "300", "0.750"]);
    assert_eq!(row("errors"), ["errors", "0", "0", "-"]);
    assert_eq!(row("model"), ["model", "epoll", "uring"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_of_a_missing_file_fails_cleanly() {
    let output = run_dummyclient(
        &["--compare", "/nonexistent/a.json", "/nonexistent/b.json"],
        Duration::from_secs(10),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot read"),
        "{}",
        stderr(&output)
    );
}
