//! A bounded smoke run of the fuzz targets, for CI: each target's property
//! (`fuzz/src/lib.rs`, shared with the libFuzzer targets) over its seeds and a
//! fixed number of deterministic mutations of them. The real search runs by hand
//! with `cargo fuzz` (see `fuzz/README.md`), starting from the seeds that
//! `write_seed_corpus` writes.

use pv_test_support::wat_guest;

#[path = "../../fuzz/src/lib.rs"]
mod oracles;

use std::path::Path;

use pv_host::package_file::{Manifest, SUPPORTED_WIT, add_signature, pack};
use pv_test_artifacts::fixtures;

/// Mutations per seed: enough to reach every check of the parser and the
/// verifier, few enough to take seconds.
const MUTATIONS_PER_SEED: usize = 1500;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One libFuzzer-style mutation of `input`, using `other` for splices.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    let at = rng.below(data.len() + 1);
    match rng.below(8) {
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = rng.next() as u8;
        }
        2 => {
            let extra: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
            data.splice(at..at, extra);
        }
        3 => {
            let end = (at + 1 + rng.below(64)).min(data.len());
            data.drain(at.min(end)..end);
        }
        4 => data.truncate(at),
        5 => {
            let end = (at + rng.below(256)).min(data.len());
            let chunk = data[at..end].to_vec();
            let to = rng.below(data.len() + 1);
            data.splice(to..to, chunk);
        }
        6 => {
            let from = rng.below(other.len() + 1);
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
        }
        _ => {
            // A LEB128 size that claims far more than there is.
            let huge = [0xF0, 0xFF, 0xFF, 0xFF, 0x0F];
            data.splice(at..at, huge);
        }
    }
    data
}

fn smoke(seeds: &[Vec<u8>], property: fn(&[u8]), salt: u64) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ salt);
    for seed in seeds {
        property(seed);
    }
    for (i, seed) in seeds.iter().enumerate() {
        let other = &seeds[(i + 1) % seeds.len()];
        let mut input = seed.clone();
        for _ in 0..MUTATIONS_PER_SEED {
            // Stack mutations now and then, as libFuzzer does.
            input = if rng.below(4) == 0 { mutate(&mut rng, &input, other) } else { mutate(&mut rng, seed, other) };
            property(&input);
        }
    }
}

fn package_seeds() -> Vec<Vec<u8>> {
    let component = wat_guest::component(wat_guest::Setup::Ok);
    let manifest = Manifest {
        name: "wat-hostile".into(),
        version: semver::Version::new(1, 0, 0),
        description: "fuzz seed".into(),
        pids: wat_guest::PIDS.iter().map(|p| p.to_string()).collect(),
        wit: SUPPORTED_WIT.into(),
        publisher: "pv-host fuzz".into(),
        limits: Default::default(),
        assets: Vec::new(),
        parts: Vec::new(),
    };
    let asset = vec![("model.bin".to_owned(), vec![1, 2, 3, 4])];
    let signed = pack(&component, &manifest, &asset, Some(&oracles::seed_key())).expect("packs");
    let countersigned =
        add_signature(&signed, &pv_host::package_file::SecretKey::from_seed(&[8; 32])).expect("countersigned by an unknown key");
    let unsigned = pack(&component, &manifest, &[], None).expect("packs");
    vec![signed, countersigned, unsigned, component]
}

fn image_seeds() -> Vec<Vec<u8>> {
    ["coins.png", "rocket.jpg"].iter().map(|name| std::fs::read(fixtures::image_path(name)).expect("sample image")).collect()
}

#[test]
fn package_parser_and_verifier_smoke() {
    smoke(&package_seeds(), oracles::package_bytes, 1);
}

fn protocol_seeds() -> Vec<Vec<u8>> {
    let frame = |json: &str| [&(json.len() as u32).to_be_bytes()[..], json.as_bytes()].concat();
    vec![
        [
            frame(r#"{"type":"hello","runner_version":"1","heartbeat_interval_ms":5000,"heartbeat_grace_ms":2000}"#),
            frame(r#"{"type":"ping","request_id":1}"#),
            frame(
                r#"{"type":"call","request_id":2,"data":{"phase":"execute","step_index":1,"pid":"A01","session":{"id":"s","context":{"product_code":"A01","trace_id":"t"}},"user_params":{"n":1},"shared_mem_id":"dev-shm:session-1732870000000","image_meta":{"width":640,"height":480,"timestamp_ms":1,"camera_id":"c","color_space":"BGR"}}}"#,
            ),
        ]
        .concat(),
        frame(
            r#"{"type":"call","request_id":"r","data":{"phase":"pre","cur_image_shm_id":"a","cur_image_meta":{},"guide_image_shm_id":"g","guide_info":[[0,0,1,1]]}}"#,
        ),
        // Generation 2: no phase, pid, session or params; guide_info groups.
        frame(
            r#"{"type":"call","request_id":3,"timestamp_ms":1,"data":{"step_index":2,"step_desc":"\u62e7\u7d27 screw","guide_info":[{"label":"1","posList":[{"x":94,"y":269,"width":319,"height":398},{"x":1,"y":2,"width":3,"height":4}]},{"label":2,"posList":[]}],"cur_image_shm_id":"dev-shm:session-1:cur","cur_image_meta":{"width":640,"height":480},"guide_image_shm_id":"dev-shm:session-1:guide","guide_image_meta":{"width":640,"height":480}}}"#,
        ),
        // Generation 2 without its guide image (1000), then a zero-length frame.
        [frame(r#"{"type":"call","request_id":4,"data":{"cur_image_shm_id":"dev-shm:x"}}"#), frame("")].concat(),
        frame(r#"{"type":"shutdown"}"#),
    ]
}

fn npy_seeds() -> Vec<Vec<u8>> {
    let npy = |major: u8, header: &str| {
        let mut bytes = vec![0x93, b'N', b'U', b'M', b'P', b'Y', major, 0];
        if major == 1 {
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 12]);
        bytes
    };
    vec![
        npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (303, 384, 3), }                  \n"),
        npy(2, "{'descr': '<u1', 'fortran_order': False, 'shape': (480, 640), }\n"),
        npy(3, "{\"descr\": \"|u1\", \"fortran_order\": True, \"shape\": (1, 1, 1, 1, 1, 1, 1, 1, 1), }\n"),
        // A header that claims 4 GiB.
        [&b"\x93NUMPY\x02\x00"[..], &0xFFFF_FFF0u32.to_le_bytes(), b"{'descr'"].concat(),
    ]
}

#[test]
fn npy_header_reader_smoke() {
    smoke(&npy_seeds(), oracles::npy_bytes, 4);
}

#[test]
fn protocol_parser_smoke() {
    smoke(&protocol_seeds(), oracles::protocol_bytes, 3);
}

#[test]
fn image_decoder_smoke() {
    smoke(&image_seeds(), oracles::image_bytes, 2);
}

/// Writes the seeds to `fuzz/corpus/<target>/` for a long run by hand:
/// `cargo test -p pv-host --test fuzz_smoke -- --ignored`.
#[test]
#[ignore = "writes into the source tree; run by hand before fuzzing"]
fn write_seed_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let targets = [
        ("package", package_seeds()),
        ("decode_image", image_seeds()),
        ("protocol", protocol_seeds()),
        ("npy_header", npy_seeds()),
    ];
    for (target, seeds) in targets {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("write seed");
        }
    }
}

/// Untrusted component bytes: reading what a component needs (before it is
/// compiled) gives counts or an error, never a panic; an intact seed's counts
/// are what the WAT says.
fn component_needs(data: &[u8]) {
    let _ = pv_host::sandbox::ComponentNeeds::of_component(data);
}

#[test]
fn component_needs_reader_smoke() {
    let seeds =
        vec![wat_guest::component(wat_guest::Setup::Ok), std::fs::read(pv_test_artifacts::HOSTILE).expect("the hostile guest")];
    let needs = pv_host::sandbox::ComponentNeeds::of_component(&seeds[0]).expect("an intact component");
    assert!(needs.core_instances >= 1 && needs.memories >= 1, "{needs:?}");
    smoke(&seeds, component_needs, 4);
}
