//! The import policy: which interfaces a component may import, checked on its
//! bytes before anything is compiled or instantiated.
//!
//! A component names every interface it needs from the host in its top-level
//! imports (for example `wasi:io/streams@0.2.6`); the policy refuses, up front
//! and with every offending import named, those the host never grants.
//!
//! `wasi:sockets` is a special case. CPython links its socket module, so every
//! component built with componentize-py imports `wasi:sockets/*` whether or not
//! the algorithm touches the network. The default policy lets those imports
//! through and the host links them to a deny-everything implementation: TCP,
//! UDP and name lookup are switched off and every address is refused (see
//! `HostState::new`), so each socket call fails with `access-denied` and a guest
//! still has no network. A host that wants a component asking for the network
//! refused at load instead uses [`ImportPolicy::strict`].

use crate::error::{Error, PackageCode, Result};

/// The interfaces a component may import. Rules are written `namespace:package/*`
/// (a whole package) or `namespace:package/interface`; versions are not part of
/// the rule (the linker checks them).
///
/// The default allows what a Rust algorithm built for `wasm32-wasip2` needs and
/// nothing else:
///
/// | rule | why |
/// |------|-----|
/// | `procvision:algorithm/*` | the host imports: session, log, diagnostics, assets |
/// | `wasi:io/*` | streams and polling, for stdio |
/// | `wasi:clocks/*` | time (the guest sees the real clock) |
/// | `wasi:random/*` | `HashMap` seeds and the like |
/// | `wasi:cli/*` | environment (empty), exit, stdio (captured into the log), terminals (none) |
/// | `wasi:filesystem/*` | the standard library links it; nothing is preopened, so no file can be opened |
/// | `wasi:sockets/*` | CPython (componentize-py) links it; every call is denied at run time, so no socket can be opened |
///
/// Everything else is refused, `wasi:http/*` among them.
///
/// ```
/// use pv_host::sandbox::ImportPolicy;
///
/// let policy = ImportPolicy::default();
/// assert!(policy.allows("wasi:io/streams@0.2.6"));
/// assert!(policy.allows("wasi:sockets/tcp@0.2.6"));
/// assert!(!policy.allows("wasi:http/outgoing-handler@0.2.6"));
/// assert!(!ImportPolicy::strict().allows("wasi:sockets/tcp@0.2.6"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPolicy {
    rules: Vec<String>,
}

/// The rules of [`ImportPolicy::strict`]: what a Rust guest needs.
const STRICT_RULES: [&str; 6] =
    ["procvision:algorithm/*", "wasi:io/*", "wasi:clocks/*", "wasi:random/*", "wasi:cli/*", "wasi:filesystem/*"];

/// The rule [`ImportPolicy::default`] adds to the strict rules: the sockets
/// CPython links, denied at run time.
const SOCKETS_RULE: &str = "wasi:sockets/*";

/// What an author whose component is refused can do, for the refusal message.
const REFUSAL_ADVICE: &str = "remove the code that needs them; a Python algorithm built with componentize-py can instead be built with `componentize-py ... componentize --stub-wasi`, which replaces every WASI import with a stub that traps when called";

impl Default for ImportPolicy {
    fn default() -> Self {
        ImportPolicy::strict().allow(SOCKETS_RULE)
    }
}

impl ImportPolicy {
    /// The default without `wasi:sockets`: a component that imports the network
    /// (a Rust guest using `std::net`, any componentize-py build without
    /// `--stub-wasi`) is refused at load with 2104 instead of being denied at
    /// every call.
    pub fn strict() -> Self {
        ImportPolicy { rules: STRICT_RULES.iter().map(|r| (*r).to_owned()).collect() }
    }

    /// A policy that allows nothing; add rules with [`allow`](Self::allow).
    pub fn deny_all() -> Self {
        ImportPolicy { rules: Vec::new() }
    }

    /// Also allow imports matching `rule` (`ns:pkg/*` or `ns:pkg/interface`).
    /// Note the linker must still provide the interface for instantiation to work.
    pub fn allow(mut self, rule: impl Into<String>) -> Self {
        self.rules.push(rule.into());
        self
    }

    /// The rules, in the order they were added.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(String::as_str)
    }

    /// Whether the import named `name` (as written in the component, version
    /// included) is allowed.
    pub fn allows(&self, name: &str) -> bool {
        let unversioned = name.split_once('@').map_or(name, |(before, _)| before);
        let Some((package, _interface)) = unversioned.split_once('/') else {
            // A bare function or instance name: not an interface the host offers.
            return false;
        };
        self.rules.iter().any(|rule| match rule.strip_suffix("/*") {
            Some(rule_package) => rule_package == package,
            None => rule == unversioned,
        })
    }

    /// Check the top-level imports of a component's bytes; on refusal, error 2104
    /// naming each import that is not allowed.
    pub(crate) fn check(&self, bytes: &[u8], origin: &str) -> Result<()> {
        let imports = component_imports(bytes)
            .map_err(|err| Error::package(PackageCode::Malformed, format!("{origin} is not a valid component: {err}")))?;
        let refused: Vec<String> = imports.into_iter().filter(|name| !self.allows(name)).collect();
        if refused.is_empty() {
            return Ok(());
        }
        Err(Error::ImportsRefused {
            message: format!(
                "{origin} imports what the host does not grant: {} (allowed: {}); {REFUSAL_ADVICE}",
                refused.join(", "),
                self.rules.join(", ")
            ),
            imports: refused,
        })
    }
}

/// Names of the top-level imports of a component. Nested modules and components
/// have imports of their own, satisfied inside the component, so only depth 1
/// counts.
pub(crate) fn component_imports(bytes: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    Ok(component_interfaces(bytes)?.0)
}

/// Names of the top-level imports and exports of a component.
pub(crate) fn component_interfaces(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), wasmparser::BinaryReaderError> {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload? {
            wasmparser::Payload::Version { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    // An import may be a plain label that `implements` an
                    // interface: the interface is what the policy judges.
                    let name = import?.name;
                    imports.push(name.implements.unwrap_or(name.name).to_owned());
                }
            }
            wasmparser::Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    exports.push(export?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_whole_packages_or_single_interfaces() {
        let policy = ImportPolicy::deny_all().allow("wasi:io/*").allow("wasi:cli/stdout");
        assert!(policy.allows("wasi:io/streams@0.2.6"));
        assert!(policy.allows("wasi:io/error"));
        assert!(policy.allows("wasi:cli/stdout@0.2.0"));
        assert!(!policy.allows("wasi:cli/environment@0.2.0"));
        assert!(!policy.allows("wasi:iox/streams@0.2.6"), "a package name is matched whole");
        assert!(!policy.allows("wasi:io"), "an import must name an interface");
        assert!(!policy.allows("do-something"));
    }

    #[test]
    fn the_default_links_sockets_only_to_deny_them_and_strict_refuses_them() {
        let policy = ImportPolicy::default();
        for refused in ["wasi:http/outgoing-handler@0.2.6", "wasi:http/types@0.2.6", "wasi:keyvalue/store@0.2.0"] {
            assert!(!policy.allows(refused), "{refused}");
        }
        for allowed in [
            "procvision:algorithm/log@1.0.0",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:random/random@0.2.6",
            "wasi:sockets/tcp@0.2.9",
        ] {
            assert!(policy.allows(allowed), "{allowed}");
        }
        let strict = ImportPolicy::strict();
        for refused in ["wasi:sockets/tcp@0.2.6", "wasi:sockets/ip-name-lookup@0.2.6", "wasi:http/outgoing-handler@0.2.6"] {
            assert!(!strict.allows(refused), "{refused}");
        }
        assert!(strict.allows("wasi:cli/stdout@0.2.6"));
    }

    #[test]
    fn the_check_lists_every_refused_import() {
        let component = wat::parse_str(
            r#"(component
                (import "wasi:sockets/tcp@0.2.6" (instance))
                (import "wasi:io/streams@0.2.6" (instance))
                (import "wasi:http/types@0.2.6" (instance))
                (component (import "wasi:sockets/udp@0.2.6" (instance)))
            )"#,
        )
        .expect("valid WAT");
        let err = ImportPolicy::strict().check(&component, "test.wasm").expect_err("refused");
        let Error::ImportsRefused { imports, .. } = &err else { panic!("wrong error: {err:?}") };
        assert_eq!(imports, &["wasi:sockets/tcp@0.2.6", "wasi:http/types@0.2.6"], "the nested import is not the component's");
        assert_eq!(err.code().number(), 2104);
    }
}
