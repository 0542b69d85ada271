//! What a component needs before it runs, read from its bytes and checked
//! against the limits before it is compiled and before it is instantiated.

use super::limits::Limits;

/// What a component needs before it runs a single instruction, read from its
/// bytes: the core instances it creates, and the memories and tables (with
/// their initial sizes) those instances define. Nested components count once
/// per instantiation. Checked against the limits before compilation (a
/// component over the host's caps is not compiled at all) and against the
/// package's granted limits before instantiation; either way a shortfall is
/// error 2116 naming the limit, what is needed and how to raise it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComponentNeeds {
    /// Core module instances created.
    pub core_instances: u64,
    /// Linear memories defined by those instances.
    pub memories: u64,
    /// Tables defined by those instances.
    pub tables: u64,
    /// Initial elements of those tables, summed.
    pub table_elements: u64,
    /// Initial bytes of those memories, summed.
    pub memory_bytes: u64,
}

impl ComponentNeeds {
    fn add(&mut self, other: &ComponentNeeds) {
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
        self.table_elements = self.table_elements.saturating_add(other.table_elements);
        self.memory_bytes = self.memory_bytes.saturating_add(other.memory_bytes);
    }

    /// Read the needs of a component's bytes. One pass of `wasmparser`, no
    /// validation (the compiler validates); the index spaces it keeps grow with
    /// the file, which the package size cap bounds.
    pub fn of_component(bytes: &[u8]) -> Result<ComponentNeeds, wasmparser::BinaryReaderError> {
        use wasmparser::{
            ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind, ComponentTypeRef, Encoding,
            Instance, Payload,
        };

        /// A component or module being read: what it needs so far and, for a
        /// component, the needs of each entry of its module and component index
        /// spaces (imported ones need nothing the host provides).
        #[derive(Default)]
        struct Frame {
            needs: ComponentNeeds,
            modules: Vec<ComponentNeeds>,
            components: Vec<ComponentNeeds>,
        }
        let mut stack: Vec<(Encoding, Frame)> = Vec::new();
        let mut result = ComponentNeeds::default();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let payload = payload?;
            let Some((encoding, frame)) = stack.last_mut() else {
                if let Payload::Version { encoding, .. } = payload {
                    stack.push((encoding, Frame::default()));
                }
                continue;
            };
            match payload {
                Payload::Version { encoding, .. } => stack.push((encoding, Frame::default())),
                Payload::End(_) => {
                    let Some((encoding, done)) = stack.pop() else { break };
                    match stack.last_mut() {
                        Some((_, parent)) if encoding == Encoding::Module => parent.modules.push(done.needs),
                        Some((_, parent)) => parent.components.push(done.needs),
                        None => result = done.needs,
                    }
                }
                // A module's own memories and tables: needed once per instantiation.
                Payload::MemorySection(section) if *encoding == Encoding::Module => {
                    for memory in section {
                        let memory = memory?;
                        let page = memory.page_size_log2.map_or(65536u64, |log2| 1u64.checked_shl(log2).unwrap_or(u64::MAX));
                        frame.needs.memories += 1;
                        frame.needs.memory_bytes = frame.needs.memory_bytes.saturating_add(memory.initial.saturating_mul(page));
                    }
                }
                Payload::TableSection(section) if *encoding == Encoding::Module => {
                    for table in section {
                        frame.needs.tables += 1;
                        frame.needs.table_elements = frame.needs.table_elements.saturating_add(table?.ty.initial);
                    }
                }
                Payload::InstanceSection(section) => {
                    for instance in section {
                        if let Instance::Instantiate { module_index, .. } = instance? {
                            let mut module = frame.modules.get(module_index as usize).copied().unwrap_or_default();
                            module.core_instances = 1;
                            frame.needs.add(&module);
                        }
                    }
                }
                Payload::ComponentInstanceSection(section) => {
                    for instance in section {
                        if let ComponentInstance::Instantiate { component_index, .. } = instance? {
                            let nested = frame.components.get(component_index as usize).copied().unwrap_or_default();
                            frame.needs.add(&nested);
                        }
                    }
                }
                Payload::ComponentImportSection(section) => {
                    for import in section {
                        match import?.ty {
                            ComponentTypeRef::Module(_) => frame.modules.push(ComponentNeeds::default()),
                            ComponentTypeRef::Component(_) => frame.components.push(ComponentNeeds::default()),
                            _ => {}
                        }
                    }
                }
                Payload::ComponentAliasSection(section) => {
                    for alias in section {
                        // (into the module index space?, the entry's needs)
                        let entry = match alias? {
                            ComponentAlias::Outer { kind, count, index } => {
                                let outer = stack.len().checked_sub(1 + count as usize).and_then(|i| stack.get(i));
                                let of = |space: fn(&Frame) -> &Vec<ComponentNeeds>| {
                                    outer.and_then(|(_, f)| space(f).get(index as usize)).copied().unwrap_or_default()
                                };
                                match kind {
                                    ComponentOuterAliasKind::CoreModule => Some((true, of(|f| &f.modules))),
                                    ComponentOuterAliasKind::Component => Some((false, of(|f| &f.components))),
                                    _ => None,
                                }
                            }
                            ComponentAlias::InstanceExport { kind: ComponentExternalKind::Module, .. } => {
                                Some((true, ComponentNeeds::default()))
                            }
                            ComponentAlias::InstanceExport { kind: ComponentExternalKind::Component, .. } => {
                                Some((false, ComponentNeeds::default()))
                            }
                            _ => None,
                        };
                        if let (Some((is_module, needs)), Some((_, frame))) = (entry, stack.last_mut()) {
                            if is_module { frame.modules.push(needs) } else { frame.components.push(needs) }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(result)
    }

    /// Check the needs against `limits`; `raise` says how the limit is raised
    /// where it is enforced (the host's caps, or the package's manifest).
    pub(crate) fn check(&self, limits: &Limits, origin: &str, raise: Raise) -> crate::Result<()> {
        let (instances, memories, tables) = limits.counts();
        let checks: [(&'static str, u64, u64, &str, &str); 5] = [
            (
                "core instances",
                self.core_instances,
                instances as u64,
                "core_instances",
                "--core-instances or Limits::with_counts",
            ),
            ("memories", self.memories, memories as u64, "memories", "--memories or Limits::with_counts"),
            ("tables", self.tables, tables as u64, "tables", "--tables or Limits::with_counts"),
            (
                "table elements",
                self.table_elements,
                limits.table_elements(),
                "table_elements",
                "--table-elements or Limits::with_table_elements",
            ),
            (
                "bytes of initial memory",
                self.memory_bytes,
                limits.memory_bytes(),
                "memory_mb",
                "--memory-mb or Limits::with_memory_bytes",
            ),
        ];
        let Some(&(limit, needed, allowed, field, host_knob)) = checks.iter().find(|(_, needed, allowed, ..)| needed > allowed)
        else {
            return Ok(());
        };
        let ask = if field == "memory_mb" { needed.div_ceil(1 << 20) } else { needed };
        let how = match raise {
            Raise::Manifest { host_max } => {
                let (instances, memories, tables) = host_max.counts();
                let max = match field {
                    "core_instances" => instances as u64,
                    "memories" => memories as u64,
                    "tables" => tables as u64,
                    "table_elements" => host_max.table_elements(),
                    _ => host_max.memory_bytes() >> 20,
                };
                format!(
                    "ask for it in the package's manifest.json, `\"limits\": {{ \"{field}\": {ask} }}`, and pack again (this host grants up to {max})"
                )
            }
            Raise::Host => format!(
                "that is over this host's cap; the operator raises it with {host_knob} (a package's manifest cannot ask for more than the host's cap; its field is `limits.{field}`)"
            ),
        };
        Err(crate::Error::LimitTooLow {
            limit,
            needed,
            allowed,
            message: format!("{origin} needs {needed} {limit}, more than the {allowed} it is granted: {how}"),
        })
    }
}

/// Where a limit checked by [`ComponentNeeds::check`] is raised.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raise<'a> {
    /// By the host's operator: the cap is the host's own.
    Host,
    /// By the package's manifest, up to the host's caps.
    Manifest { host_max: &'a Limits },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component with two modules, one instantiated twice, and a nested
    /// component instantiated twice that instantiates a module of its own.
    const NESTED: &str = r#"(component
        (core module $m (memory 2) (table 10 funcref) (table 5 funcref))
        (core module $plain)
        (core instance (instantiate $m))
        (core instance (instantiate $m))
        (core instance (instantiate $plain))
        (component $inner
            (core module $n (memory 1 3))
            (core instance (instantiate $n))
        )
        (instance (instantiate $inner))
        (instance (instantiate $inner))
    )"#;

    #[test]
    fn needs_count_every_instantiation_nested_ones_included() {
        let bytes = wat::parse_str(NESTED).expect("valid WAT");
        let needs = ComponentNeeds::of_component(&bytes).expect("parses");
        assert_eq!(
            needs,
            ComponentNeeds {
                core_instances: 5,
                memories: 4,
                tables: 4,
                table_elements: 30,
                memory_bytes: (2 + 2 + 1 + 1) * 65536,
            }
        );
    }

    #[test]
    fn needs_over_a_cap_are_refused_with_2116_naming_the_limit() {
        let bytes = wat::parse_str(NESTED).expect("valid WAT");
        let needs = ComponentNeeds::of_component(&bytes).expect("parses");
        needs.check(&Limits::default(), "nested.wasm", Raise::Host).expect("fits the defaults");
        let tight = Limits::default().with_counts(4, 4, 4);
        let err = needs.check(&tight, "nested.wasm", Raise::Host).expect_err("5 core instances over 4");
        assert_eq!((err.kind(), err.code().number()), (crate::ErrorKind::Policy, 2116));
        let crate::Error::LimitTooLow { limit, needed, allowed, .. } = err else { panic!("{err:?}") };
        assert_eq!((limit, needed, allowed), ("core instances", 5, 4));
        let host = Limits::default();
        let few_elements = Limits::default().with_table_elements(29);
        let err = needs.check(&few_elements, "nested.wasm", Raise::Manifest { host_max: &host }).expect_err("30 over 29");
        let crate::Error::LimitTooLow { limit, needed, allowed, .. } = err else { panic!("{err:?}") };
        assert_eq!((limit, needed, allowed), ("table elements", 30, 29));
    }

    #[test]
    fn needs_of_garbage_are_an_error_not_a_panic() {
        assert!(ComponentNeeds::of_component(b"\0asm\x0d\0\x01\0\x01\xff\xff").is_err());
        let bytes = wat::parse_str(NESTED).expect("valid WAT");
        for cut in [9, bytes.len() / 3, bytes.len() - 1] {
            assert!(ComponentNeeds::of_component(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
    }
}
