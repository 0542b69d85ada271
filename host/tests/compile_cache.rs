//! The authenticated compile cache: a second load comes from the cache, and a
//! tampered or foreign cache file is never deserialized, only rebuilt.

use std::path::Path;

use pv_host::{CompileCache, Host, Limits};

fn load(cache_dir: &Path, limits: Limits) -> bool {
    let cache = CompileCache::open(cache_dir).expect("cache");
    let host = Host::builder().limits(limits).compile_cache(Some(cache)).build().expect("host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    // Whatever its origin, the package works.
    let mut instance = package.instantiate().expect("instantiates");
    instance.setup().into_result().expect("setup");
    package.compiled_from_cache()
}

fn entry(cache_dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(cache_dir)
        .expect("cache dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("an entry")
}

#[test]
fn a_second_load_comes_from_the_cache_and_tampering_is_never_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(!load(dir.path(), Limits::default()), "the first load compiles");
    assert!(load(dir.path(), Limits::default()), "the second comes from the cache");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("key")), 0o600);
        assert_eq!(mode(&entry(dir.path())), 0o600);
    }

    // One byte of compiled code changed: detected, deleted, rebuilt.
    let path = entry(dir.path());
    let mut bytes = std::fs::read(&path).expect("entry");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).expect("tamper");
    assert!(!load(dir.path(), Limits::default()), "a tampered entry is not loaded");
    assert!(load(dir.path(), Limits::default()), "it was rebuilt");

    // The tag changed.
    let mut bytes = std::fs::read(&path).expect("entry");
    bytes[0] ^= 0x80;
    std::fs::write(&path, &bytes).expect("tamper");
    assert!(!load(dir.path(), Limits::default()));

    // A foreign file: valid compiled code, written by another host (another key).
    let other = tempfile::tempdir().expect("tempdir");
    assert!(!load(other.path(), Limits::default()));
    std::fs::copy(entry(other.path()), &path).expect("plant a foreign entry");
    assert!(!load(dir.path(), Limits::default()), "another host's entry is not loaded");

    // Another engine configuration is another entry.
    assert!(!load(dir.path(), Limits::default().with_fuel_per_call(None)));
}
