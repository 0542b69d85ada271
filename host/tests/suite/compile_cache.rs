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

// ---- a cache someone else could have written ---------------------------------

use pv_test_support::wat_guest;

use std::os::unix::fs::PermissionsExt;

use hmac::{Hmac, Mac};
use pv_host::ErrorKind;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn refused(dir: &Path) -> bool {
    match CompileCache::open(dir) {
        Ok(_) => false,
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Host, "{err}");
            true
        }
    }
}

/// A host with the cache in `dir` (which must be accepted) loads the hostile
/// guest: the name the loaded code gives itself, and whether it came from the cache.
fn load_hostile_through(dir: &Path) -> (String, bool) {
    let cache = CompileCache::open(dir).expect("an accepted cache");
    let host = Host::builder().compile_cache(Some(cache)).build().expect("host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    let name = package.instantiate().expect("instantiates").info().name.clone();
    (name, package.compiled_from_cache())
}

/// What an attacker who can write into the cache directory plants: its own key,
/// and under the name of the hostile guest's entry, the WAT guest's compiled code
/// tagged with that key.
fn plant(dir: &Path) {
    let key = [7u8; 32];
    std::fs::write(dir.join("key"), key).expect("plant the key");
    chmod(&dir.join("key"), 0o600);
    // Where the hostile guest's entry goes: learnt from a cache of our own.
    let scratch = tempfile::tempdir().expect("tempdir");
    assert!(!load(scratch.path(), Limits::default()));
    let target_name = entry(scratch.path()).file_name().expect("a name").to_owned();
    // Compiled code of another component, from another cache.
    let other = tempfile::tempdir().expect("tempdir");
    let cache = CompileCache::open(other.path()).expect("cache");
    let host = Host::builder().compile_cache(Some(cache)).build().expect("host");
    host.load_component(&wat_guest::component(wat_guest::Setup::Ok), "wat.wasm").expect("compiles");
    let payload = std::fs::read(entry(other.path())).expect("entry")[32..].to_vec();
    let mut tag = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).expect("any key length");
    tag.update(target_name.as_encoded_bytes());
    tag.update(&payload);
    let forged = [&tag.finalize().into_bytes()[..], &payload].concat();
    let planted = dir.join(&target_name);
    std::fs::write(&planted, forged).expect("plant the entry");
    chmod(&planted, 0o600);
}

#[test]
fn a_planted_key_and_entry_in_a_world_writable_directory_are_never_loaded() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path().join("cache");
    std::fs::create_dir(&dir).expect("mkdir");
    plant(&dir);
    chmod(&dir, 0o777);
    assert!(refused(&dir), "a world-writable cache is refused");
    chmod(&dir, 0o775);
    assert!(refused(&dir), "a group-writable cache is refused");
    // Without a cache the package compiles from its own bytes: the real guest.
    let host = Host::new().expect("host");
    let package = host.load_component_file(pv_test_artifacts::HOSTILE.as_ref()).expect("loads");
    assert_eq!(package.instantiate().expect("instantiates").info().name, "hostile");
    assert!(!package.compiled_from_cache());

    // The planted entry was a working substitution: in a directory whose owner
    // and mode pass, the key decides, and the forged code runs. Only the
    // directory checks keep a stranger's key out.
    chmod(&dir, 0o700);
    assert_eq!(load_hostile_through(&dir), ("wat-hostile".to_owned(), true), "the forgery is a real one");
}

#[test]
fn a_key_others_can_read_or_write_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    CompileCache::open(dir.path()).expect("a fresh cache");
    let key = dir.path().join("key");
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
        chmod(&key, mode);
        assert!(refused(dir.path()), "key mode {mode:o}");
    }
    chmod(&key, 0o400);
    CompileCache::open(dir.path()).expect("a key only its owner can read is fine");
}

#[test]
fn links_are_not_followed() {
    let base = tempfile::tempdir().expect("tempdir");
    let real = base.path().join("real");
    assert!(!load(&real, Limits::default()), "a fresh cache compiles");
    assert!(load(&real, Limits::default()), "and keeps the entry");

    // The directory reached through a link.
    let link = base.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    assert!(refused(&link), "a linked directory is refused");

    // The key a link to a private key elsewhere.
    let other = base.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    chmod(&other, 0o700);
    std::os::unix::fs::symlink(real.join("key"), other.join("key")).expect("symlink");
    assert!(refused(&other), "a linked key is refused");

    // An entry that is a link to a good entry: not followed, the package compiles.
    let linked_entries = base.path().join("linked-entries");
    assert!(!load(&linked_entries, Limits::default()));
    let entry_path = entry(&linked_entries);
    std::fs::remove_file(&entry_path).expect("rm");
    std::fs::copy(real.join("key"), linked_entries.join("key")).expect("same key");
    std::os::unix::fs::symlink(entry(&real), &entry_path).expect("symlink");
    assert!(!load(&linked_entries, Limits::default()), "a linked entry is not loaded");
    assert!(entry(&real).exists(), "what the link pointed to is untouched");
}

#[test]
fn a_directory_of_another_user_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    CompileCache::open(dir.path()).expect("a fresh cache");
    // Only a test run as root can give the directory away (and back).
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir.path()).expect("stat")) != 0 {
        return;
    }
    std::os::unix::fs::chown(dir.path(), Some(65_534), None).expect("chown");
    assert!(refused(dir.path()), "a directory owned by someone else is refused");
    std::os::unix::fs::chown(dir.path(), Some(0), None).expect("given back");
    CompileCache::open(dir.path()).expect("accepted again");
    std::os::unix::fs::chown(dir.path().join("key"), Some(65_534), None).expect("chown");
    assert!(refused(dir.path()), "a key owned by someone else is refused");
}
