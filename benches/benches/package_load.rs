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

use criterion::{Criterion, criterion_group};
use pv_benches::compare::{Goal, Side, report};
use pv_host::{Admission, CompileCache, Host, TrustStore};
use pv_test_support::station;

/// Samples per side: a compile takes about 150 ms.
const SAMPLES: usize = 20;

fn package_load(c: &mut Criterion) {
    let station = station::station();
    let (package, trust) = (&station.part_counter, TrustStore::open(&station.trust).expect("the station's trust store"));
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = CompileCache::open(&dir.path().join("cache")).expect("a compile cache");
    let cached = Host::builder().compile_cache(Some(cache)).build().expect("host");
    let uncached = Host::new().expect("host");
    let admission = Admission::new(&trust);
    let load = |host: &Host| host.load_package_file(package, &admission).expect("admitted");
    assert!(!load(&cached).compiled_from_cache(), "the first load compiles and fills the cache");

    let (warm, cold) = (Side::new(SAMPLES), Side::new(SAMPLES));
    let mut group = c.benchmark_group("B5 load the signed part counter");
    group.sample_size(SAMPLES);
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
