//! `crds/` must be exactly what `framaspace-operator crds` generates from the Rust types:
//! a type changed without `make crds` fails here, before a cluster ever sees a stale schema.

// A test crate: a failed expectation is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn crds_directory_matches_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let documents = framaspace_operator::manifests::documents().expect("manifests render");
    let mut expected_files: Vec<String> = Vec::new();
    for (stem, yaml) in documents {
        let file = format!("{stem}.yaml");
        let on_disk = std::fs::read_to_string(dir.join(&file)).unwrap_or_else(|e| panic!("crds/{file}: {e}; run `make crds`"));
        let generated = format!("{}{}", framaspace_operator::manifests::HEADER, yaml);
        assert!(on_disk == generated, "crds/{file} differs from the code: run `make crds` and commit crds/");
        expected_files.push(file);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(present, expected_files, "crds/ holds files the code does not generate");
}

#[test]
fn chart_files_match_the_code() {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/framaspace-operator");
    let files = framaspace_operator::manifests::chart_files().expect("manifests render");
    for (path, generated) in &files {
        let on_disk =
            std::fs::read_to_string(chart.join(path)).unwrap_or_else(|e| panic!("charts/framaspace-operator/{path}: {e}; run `make crds`"));
        assert!(&on_disk == generated, "charts/framaspace-operator/{path} differs from the code: run `make crds` and commit it");
    }
    let mut present: Vec<String> = std::fs::read_dir(chart.join("files/crds"))
        .expect("files/crds exists")
        .filter_map(|e| e.ok().map(|e| format!("files/crds/{}", e.file_name().to_string_lossy())))
        .collect();
    present.sort();
    let mut expected: Vec<String> = files.into_iter().map(|(p, _)| p).filter(|p| p.starts_with("files/crds/")).collect();
    expected.sort();
    assert_eq!(present, expected, "files/crds/ holds files the code does not generate");
}
