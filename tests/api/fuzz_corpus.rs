//! The fuzz corpora (`fuzz/corpus/<target>/`) and crash reproducers
//! (`fuzz/regressions/<target>/`) run through the fuzz entry points on every
//! test run: none may panic.

use scim_server::fuzzing;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = vec![];
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            out.push((
                e.path().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn fuzz_corpora_run_clean() {
    type Target = (&'static str, fn(&[u8]));
    let targets: [Target; 5] = [
        ("filter", fuzzing::filter),
        ("patch_path", fuzzing::patch_path),
        ("patch_user", fuzzing::patch_user),
        ("patch_group", fuzzing::patch_group),
        ("body", fuzzing::body),
    ];
    for (name, run) in targets {
        let cases = inputs(name);
        assert!(!cases.is_empty(), "no corpus for {name}");
        for (path, data) in cases {
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{name} panicked on {path}");
        }
    }
}
