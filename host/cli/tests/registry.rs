//! Fleet distribution against a real registry (Debian's `docker-registry`,
//! started by the tests on loopback) and a third-party client (`skopeo`):
//! push and pull, installs and desired-state syncs, and what a registry can do
//! wrong: a moved tag, a changed blob, an untrusted or unsigned package, a
//! registry that stops answering, credentials.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pv_host::TrustStore;
use pv_test_support::registry::{self, PASSWORD, Registry, USER};
use pv_test_support::{pv_host, run, station};
use serde_json::Value;

const EXIT_USAGE: i32 = 2;
const EXIT_UNTRUSTED: i32 = 8;
const EXIT_REGISTRY: i32 = 11;

/// A working directory with its own trust store (trusting the station's
/// vendor key: its rollback record is this test's alone).
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        TrustStore::open_or_create(&dir.path().join("trust"))
            .expect("trust store")
            .add_key("vendor", station::vendor_key().public())
            .expect("trusted");
        Bench { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pv_host(&self) -> Command {
        let mut cmd = pv_host();
        cmd.current_dir(self.dir.path())
            .env("PV_HOST_TRUST", self.path("trust"))
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("PV_HOST_CACHE", self.path("cache"));
        cmd
    }

    /// Run; it must exit with `code`. Its stdout and stderr.
    fn expect(&self, args: &[&str], code: i32) -> (String, String) {
        let (exit, stdout, stderr) = run(self.pv_host().args(args));
        assert_eq!(exit, code, "{args:?}\nstdout: {stdout}\nstderr: {stderr}");
        (stdout, stderr)
    }

    /// `pv-host push`: the pinned reference it prints.
    fn push(&self, package: &str, reference: &str) -> String {
        self.expect(&["push", package, reference], 0).0.trim().to_owned()
    }

    fn station(&self, name: &str) -> PathBuf {
        let dir = self.path(name);
        if !dir.exists() {
            std::fs::create_dir(&dir).expect("station dir");
        }
        dir
    }

    fn listing(&self, station: &str) -> Value {
        let dir = self.station(station);
        let (stdout, _) = self.expect(&["station", "--station", dir.to_str().expect("utf-8"), "list", "--json"], 0);
        serde_json::from_str::<Value>(&stdout).expect("JSON")["listing"].clone()
    }

    fn desired(&self, name: &str, pids: &[(&str, &str)]) -> String {
        let text: String = pids.iter().map(|(pid, reference)| format!("{pid} = \"{reference}\"\n")).collect();
        std::fs::write(self.path(name), format!("# the line's desired state\n[pids]\n{text}")).expect("write");
        name.to_owned()
    }

    fn sync(&self, station: &str, file: &str, extra: &[&str], code: i32) -> (String, String) {
        let dir = self.station(station);
        let mut args = vec!["station", "--station", dir.to_str().expect("utf-8"), "sync", file];
        args.extend(extra);
        self.expect(&args, code)
    }
}

fn part_counter() -> &'static str {
    station::part_counter()
}

fn part_counter_next() -> String {
    station::station().part_counter_next.display().to_string()
}

fn skopeo(args: &[&str]) -> std::process::Output {
    std::process::Command::new("skopeo").args(args).output().expect("skopeo runs (.ci/run installs it)")
}

#[test]
fn push_and_pull_round_trip_byte_for_byte_and_skopeo_reads_the_same_layer() {
    if !registry::available() {
        return;
    }
    let registry = Registry::start(false);
    let bench = Bench::new();
    let pinned = bench.push(part_counter(), &registry.reference("lines/part-counter", "1.0.0"));
    assert!(pinned.starts_with(&format!("{}/lines/part-counter@sha256:", registry.address)), "{pinned}");

    // By digest and by tag: the same bytes as the file.
    let original = std::fs::read(part_counter()).expect("package");
    bench.expect(&["pull", &pinned, "-o", "by-digest.wasm"], 0);
    bench.expect(&["pull", &registry.reference("lines/part-counter", "1.0.0"), "-o", "by-tag.wasm"], 0);
    assert_eq!(std::fs::read(bench.path("by-digest.wasm")).expect("pulled"), original);
    assert_eq!(std::fs::read(bench.path("by-tag.wasm")).expect("pulled"), original);
    bench.expect(&["verify", "by-digest.wasm"], 0);

    // skopeo sees the CNCF wasm layout, and its copy holds the package's bytes.
    let docker = format!("docker://{}", registry.reference("lines/part-counter", "1.0.0"));
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &docker]);
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let manifest: Value = serde_json::from_slice(&raw.stdout).expect("a JSON manifest");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(manifest["annotations"]["org.opencontainers.image.title"], "part-counter");
    assert_eq!(manifest["annotations"]["org.opencontainers.image.version"], "1.0.0");
    assert_eq!(manifest["annotations"]["io.procvision.pv-host.pids"], "A01,A02");
    let copy = bench.path("skopeo-copy");
    let copied = skopeo(&["copy", "--src-tls-verify=false", &docker, &format!("dir:{}", copy.display())]);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    let layer = manifest["layers"][0]["digest"].as_str().expect("digest").trim_start_matches("sha256:").to_owned();
    assert_eq!(std::fs::read(copy.join(&layer)).expect("the layer as skopeo stored it"), original);

    // A mirror made by skopeo (as plants mirror into air-gapped networks)
    // serves the same package, verified the same way.
    let mirror = format!("docker://{}", registry.reference("mirror/part-counter", "1.0.0"));
    let mirrored = skopeo(&["copy", "--src-tls-verify=false", "--dest-tls-verify=false", &docker, &mirror]);
    assert!(mirrored.status.success(), "{}", String::from_utf8_lossy(&mirrored.stderr));
    bench.expect(&["pull", &registry.reference("mirror/part-counter", "1.0.0"), "-o", "mirror.wasm"], 0);
    assert_eq!(std::fs::read(bench.path("mirror.wasm")).expect("pulled"), original);

    // Tags name versions: `latest` is refused unless asked for, and a
    // version tag must be the package's version.
    bench.expect(&["push", part_counter(), &registry.reference("lines/part-counter", "latest")], EXIT_USAGE);
    bench.expect(&["push", part_counter(), &registry.reference("lines/part-counter", "latest"), "--allow-latest"], 0);
    let (_, stderr) = bench.expect(&["push", part_counter(), &registry.reference("lines/part-counter", "2.0.0")], EXIT_USAGE);
    assert!(stderr.contains("tag it with its version"), "{stderr}");
}

#[test]
fn a_moved_tag_a_changed_blob_and_untrusted_or_unsigned_packages_are_refused_and_nothing_is_stored() {
    if !registry::available() {
        return;
    }
    let registry = Registry::start(false);
    let bench = Bench::new();
    let pinned = bench.push(part_counter(), &registry.reference("lines/part-counter", "1.0.0"));
    bench.push(&part_counter_next(), &registry.reference("lines/part-counter", "1.1.0"));

    // The tag 1.0.0 moved (by a third-party client) to the 1.1.0 build: a pull
    // by tag is refused, a pull by digest still gets what it names.
    let from = format!("docker://{}", registry.reference("lines/part-counter", "1.1.0"));
    let to = format!("docker://{}", registry.reference("lines/part-counter", "1.0.0"));
    let moved = skopeo(&["copy", "--src-tls-verify=false", "--dest-tls-verify=false", &from, &to]);
    assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
    let (_, stderr) =
        bench.expect(&["pull", &registry.reference("lines/part-counter", "1.0.0"), "-o", "moved.wasm"], EXIT_REGISTRY);
    assert!(stderr.contains("moved to another build"), "{stderr}");
    assert!(!bench.path("moved.wasm").exists());
    bench.expect(&["pull", &pinned, "-o", "pinned.wasm"], 0);
    assert_eq!(std::fs::read(bench.path("pinned.wasm")).expect("pulled"), std::fs::read(part_counter()).expect("package"));

    // A blob changed in the registry's storage: refused by its digest, for a
    // pull and an install alike, nothing written.
    let layer = std::fs::read(part_counter()).expect("package");
    let blob = registry.blob_path(&format!("sha256:{}", hex_sha256(&layer)));
    let mut changed = std::fs::read(&blob).expect("the stored blob");
    let middle = changed.len() / 2;
    changed[middle] ^= 0x01;
    std::fs::write(&blob, changed).expect("change the blob");
    let (_, stderr) = bench.expect(&["pull", &pinned, "-o", "changed.wasm"], EXIT_REGISTRY);
    assert!(stderr.contains("does not match") || stderr.contains("digest"), "{stderr}");
    assert!(!bench.path("changed.wasm").exists());
    let line = bench.station("line");
    bench.expect(&["station", "--station", line.to_str().expect("utf-8"), "install", &pinned], EXIT_REGISTRY);
    assert_eq!(bench.listing("line")["installed"], serde_json::json!([]));

    // Signed by a key this station does not trust: refused at install (2108).
    let stranger = pv_host::package_file::SecretKey::from_seed(&[77; 32]);
    let component = std::fs::read(pv_test_artifacts::PART_COUNTER).expect("component");
    let manifest = pv_host::package_file::Manifest::from_json(
        &std::fs::read(pv_test_artifacts::fixtures::examples_dir().join("part-counter/manifest.json")).expect("manifest"),
    )
    .expect("manifest");
    let foreign = pv_host::package_file::pack(&component, &manifest, &[], Some(&stranger)).expect("packs");
    std::fs::write(bench.path("foreign.pkg.wasm"), &foreign).expect("write");
    let foreign_ref = bench.push("foreign.pkg.wasm", &registry.reference("other/part-counter", "1.0.0"));
    let (_, stderr) =
        bench.expect(&["station", "--station", line.to_str().expect("utf-8"), "install", &foreign_ref], EXIT_UNTRUSTED);
    assert!(stderr.contains("[2108]"), "{stderr}");
    assert_eq!(bench.listing("line")["installed"], serde_json::json!([]));

    // Unsigned, put there by another client (pv-host push refuses to push it):
    // pull refuses it (2106) and writes nothing.
    let unsigned = pv_host::package_file::pack(&component, &manifest, &[], None).expect("packs unsigned");
    let unsigned_dir = bench.path("unsigned-artifact");
    write_dir_artifact(&unsigned_dir, &unsigned);
    let target = format!("docker://{}", registry.reference("unsigned/part-counter", "1.0.0"));
    let copied = skopeo(&["copy", "--dest-tls-verify=false", &format!("dir:{}", unsigned_dir.display()), &target]);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    let (_, stderr) =
        bench.expect(&["pull", &registry.reference("unsigned/part-counter", "1.0.0"), "-o", "unsigned.wasm"], EXIT_UNTRUSTED);
    assert!(stderr.contains("[2106]"), "{stderr}");
    assert!(!bench.path("unsigned.wasm").exists());
}

#[test]
fn a_station_syncs_to_a_desired_state_all_or_nothing_and_rolls_back_by_syncing_the_previous_file() {
    if !registry::available() {
        return;
    }
    let mut registry = Registry::start(false);
    let bench = Bench::new();
    let first = bench.push(part_counter(), &registry.reference("lines/part-counter", "1.0.0"));
    let second = bench.push(&part_counter_next(), &registry.reference("lines/part-counter", "1.1.0"));
    let v1 = bench.desired("line-v1.toml", &[("A01", &first), ("A02", &first)]);
    let v2 = bench.desired("line-v2.toml", &[("A01", &second), ("A02", &second)]);

    // A dry run prints the plan and changes nothing.
    let (stdout, _) = bench.sync("line", &v1, &["--dry-run"], 0);
    assert!(stdout.contains("A01: would switch") && stdout.contains("part-counter 1.0.0"), "{stdout}");
    assert_eq!(bench.listing("line")["installed"], serde_json::json!([]));

    // Synced: both product ids on 1.0.0, the source recorded; again: nothing changes.
    bench.sync("line", &v1, &[], 0);
    let listing = bench.listing("line");
    assert_eq!(listing["active"]["A01"]["version"], "1.0.0", "{listing}");
    assert_eq!(listing["sources"]["A02"], first.as_str(), "{listing}");
    let generation = listing["generation"].clone();
    let (stdout, _) = bench.sync("line", &v1, &[], 0);
    assert!(stdout.contains("A01: unchanged") && stdout.contains("A02: unchanged"), "{stdout}");
    assert_eq!(bench.listing("line")["generation"], generation, "running it again changes nothing");

    // The audit trail names the registry digest of the install and the switch.
    let audit = std::fs::read_to_string(bench.station("line").join("audit.jsonl")).expect("audit trail");
    let entries: Vec<Value> = audit.lines().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    assert!(entries.iter().any(|e| e["event"] == "install" && e["source"] == first.as_str()), "{audit}");
    assert!(entries.iter().any(|e| e["event"] == "sync" && e["pids"] == serde_json::json!(["A01", "A02"])), "{audit}");

    // Forward to 1.1.0, then back by syncing the previous file (the station
    // has 1.0.0 already: no downgrade flag needed).
    bench.sync("line", &v2, &[], 0);
    assert_eq!(bench.listing("line")["active"]["A02"]["version"], "1.1.0");
    bench.sync("line", &v1, &[], 0);
    let listing = bench.listing("line");
    assert_eq!((&listing["active"]["A01"]["version"], &listing["active"]["A02"]["version"]), (&"1.0.0".into(), &"1.0.0".into()));

    // A file naming a build by tag only is refused: a desired state names builds.
    let by_tag = bench.desired("by-tag.toml", &[("A01", &registry.reference("lines/part-counter", "1.1.0"))]);
    let (_, stderr) = bench.sync("line", &by_tag, &[], EXIT_USAGE);
    assert!(stderr.contains("by tag only"), "{stderr}");

    // The registry stops mid-sync: A01's package comes, A02's does not (its
    // registry is down). The station is as it was: same mapping, same
    // generation, nothing new installed.
    let before = bench.listing("line");
    let mut down = Registry::start(false);
    let stranded = bench.push(&part_counter_next(), &down.reference("lines/part-counter", "1.1.0"));
    down.stop();
    let half = bench.desired("half.toml", &[("A01", &second), ("A02", &stranded)]);
    bench.sync("line", &half, &[], EXIT_REGISTRY);
    assert_eq!(bench.listing("line"), before, "a failed sync leaves the station as it was");
    registry.stop();
    // With its registry down, a station already in the desired state needs nothing from it.
    bench.sync("line", &v1, &[], 0);
}

#[test]
fn five_stations_sync_the_same_file_at_once() {
    if !registry::available() {
        return;
    }
    let registry = Registry::start(false);
    let bench = Bench::new();
    let pinned = bench.push(part_counter(), &registry.reference("lines/part-counter", "1.0.0"));
    let file = bench.desired("fleet.toml", &[("A01", &pinned), ("A02", &pinned)]);
    let stations: Vec<PathBuf> = (0..5).map(|n| bench.station(&format!("station-{n}"))).collect();
    let children: Vec<_> = stations
        .iter()
        .map(|dir| {
            let mut cmd = std::process::Command::new(pv_test_support::pv_host_binary());
            cmd.current_dir(bench.dir.path())
                .env_remove("PV_HOST_LOG")
                .env("PV_HOST_TRUST", bench.path("trust"))
                .env("DOCKER_CONFIG", bench.path("docker"))
                .env("PV_HOST_CACHE", bench.path("cache"))
                .args(["station", "--station"])
                .arg(dir)
                .args(["sync", &file])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("pv-host starts")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("pv-host ends");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    for n in 0..5 {
        let listing = bench.listing(&format!("station-{n}"));
        assert_eq!(listing["active"]["A01"]["version"], "1.0.0", "station {n}: {listing}");
        assert_eq!(listing["sources"]["A02"], pinned.as_str(), "station {n}: {listing}");
    }
}

#[test]
fn credentials_come_from_the_command_line_or_the_docker_config_and_stay_with_their_registry() {
    if !registry::available() {
        return;
    }
    let registry = Registry::start(true);
    let bench = Bench::new();
    let reference = registry.reference("lines/part-counter", "1.0.0");

    // Anonymous: refused by the registry.
    bench.expect(&["push", part_counter(), &reference], EXIT_REGISTRY);
    // --username with the password on stdin.
    let (exit, stdout, stderr) = run(bench
        .pv_host()
        .args(["push", part_counter(), &reference, "--username", USER, "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n")));
    assert_eq!(exit, 0, "{stdout}{stderr}");
    // The Docker config's entry for this registry (as `docker login` writes it).
    let auth = base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    std::fs::create_dir_all(bench.path("docker")).expect("docker dir");
    let config =
        serde_json::json!({ "auths": { "registry.elsewhere.example:5000": { "auth": base64_encode(b"other:secret") } } });
    std::fs::write(bench.path("docker/config.json"), config.to_string()).expect("write");
    bench.expect(&["pull", &reference, "-o", "a.wasm"], EXIT_REGISTRY);
    let config = serde_json::json!({ "auths": { (registry.address.as_str()): { "auth": auth } } });
    std::fs::write(bench.path("docker/config.json"), config.to_string()).expect("write");
    bench.expect(&["pull", &reference, "-o", "b.wasm"], 0);
    assert!(bench.path("b.wasm").is_file());
}

/// A registry nobody listens on is unreachable: a clear error, exit 11.
#[test]
fn an_unreachable_registry_is_a_clear_error() {
    let bench = Bench::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let (_, stderr) = bench.expect(&["pull", &format!("127.0.0.1:{port}/lines/part-counter:1.0.0")], EXIT_REGISTRY);
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An artifact in skopeo's `dir:` layout: the manifest, the version file, and
/// each blob under its hex digest.
fn write_dir_artifact(dir: &Path, package: &[u8]) {
    std::fs::create_dir_all(dir).expect("dir");
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": format!("sha256:{}", hex_sha256(config)), "size": config.len() },
        "layers": [{ "mediaType": "application/wasm", "digest": format!("sha256:{}", hex_sha256(package)), "size": package.len() }],
    });
    std::fs::write(dir.join("version"), "Directory Transport Version: 1.1\n").expect("version");
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("manifest");
    std::fs::write(dir.join(hex_sha256(config)), config).expect("config");
    std::fs::write(dir.join(hex_sha256(package)), package).expect("layer");
}

/// A registry that answers every request with an endless manifest: the pull
/// stops reading at the manifest cap (1 MiB) and says so, exit 11; the host
/// never holds what the registry sends beyond it.
#[test]
fn an_endless_manifest_is_refused_at_its_cap() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                // The request line and headers, then an answer that never ends
                // (until the client hangs up).
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = stream;
                let head =
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..4096 {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let bench = Bench::new();
    let (_, stderr) =
        bench.expect(&["pull", &format!("{address}/lines/part-counter:1.0.0"), "-o", "endless.wasm"], EXIT_REGISTRY);
    assert!(stderr.contains("is not a package's"), "{stderr}");
    assert!(!bench.path("endless.wasm").exists());
}
