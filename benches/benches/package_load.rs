//! B5: loading a signed package when its compiled code is in the compile cache,
//! against loading it with a compile.
//!
//! Both sides do the whole admission of the signed part counter: read the
//! file, check the signature against a trust store, the manifest, the import
//! policy, instantiate-time linking. The cold side compiles the component with
//! cranelift; the warm side checks the cache entry's MAC and maps the compiled
//! code. Goal: the warm load at least 50x faster.
//!
//! Run with `cargo bench -p pv-benches --bench package_load`.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, report};
use pv_host::{Admission, CompileCache, Host, Manifest, SecretKey, TrustStore, pack};

/// The example part counter, packed and signed; a trust store that trusts the key.
fn signed_part_counter(dir: &Path) -> (PathBuf, TrustStore) {
    let key = SecretKey::from_seed(&[7; 32]);
    let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/part-counter/manifest.json");
    let manifest = Manifest::from_json(&std::fs::read(manifest_path).expect("manifest")).expect("a valid manifest");
    let component = std::fs::read(pv_test_artifacts::PART_COUNTER).expect("the example is built");
    let package = dir.join("part-counter.pkg.wasm");
    std::fs::write(&package, pack(&component, &manifest, &[], Some(&key)).expect("packs")).expect("written");
    let mut trust = TrustStore::open_or_create(&dir.join("trust")).expect("trust store");
    trust.add_key("vendor", key.public()).expect("trusted");
    (package, trust)
}

fn package_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (package, trust) = signed_part_counter(dir.path());
    let cache = CompileCache::open(&dir.path().join("cache")).expect("a compile cache");
    let cached = Host::builder().compile_cache(Some(cache)).build().expect("host");
    let uncached = Host::new().expect("host");
    let admission = Admission::new(&trust);
    let load = |host: &Host| host.load_package_file(&package, &admission).expect("admitted");
    assert!(!load(&cached).compiled_from_cache(), "the first load compiles and fills the cache");

    let (warm, cold) = (Side::default(), Side::default());
    let mut group = c.benchmark_group("B5 load the signed part counter");
    group.sample_size(20);
    group.bench_function("warm cache", |b| {
        warm.iter(b, || {
            let loaded = load(&cached);
            assert!(loaded.compiled_from_cache());
            loaded
        })
    });
    group.bench_function("compile", |b| cold.iter(b, || load(&uncached)));
    group.finish();
    report("B5 load a signed package", ("warm cache", &warm), ("compile", &cold), Goal::AtLeastFaster(50.0));
}

criterion_group!(benches, package_load);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
