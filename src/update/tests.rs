use super::*;

#[test]
fn layout_init_point_and_state() {
    let dir = std::env::temp_dir().join(format!("hearth-layout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("bin");
    std::fs::write(&bin, b"#!/bin/sh\n").unwrap();
    let l = Layout::new(dir.join("opt"));
    assert!(l.current().is_err());
    assert!(l.init(&bin, Some("0.1.0".into())).unwrap());
    assert!(!l.init(&bin, None).unwrap());
    assert_eq!(l.current().unwrap(), Slot::A);
    assert_eq!(l.previous().unwrap(), None);
    assert_eq!(std::fs::read(l.current_binary()).unwrap(), b"#!/bin/sh\n");
    let st = l.load_state().unwrap();
    assert_eq!(st.slot(Slot::A).unwrap().version.as_deref(), Some("0.1.0"));
    l.point("previous", Some(Slot::B)).unwrap();
    assert_eq!(l.previous().unwrap(), Some(Slot::B));
    l.point("previous", None).unwrap();
    assert_eq!(l.previous().unwrap(), None);
    let held = l.lock().unwrap();
    assert!(l.try_lock().unwrap().is_none());
    drop(held);
    assert!(l.try_lock().unwrap().is_some());
    std::fs::write(l.state_path(), b"{").unwrap();
    assert!(matches!(l.load_state(), Err(UpdateError::Invalid(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A layout whose slot A runs `installed`, and a signed release of `offered` whose binary
/// differs. The supervision restarts with `true` and never sees the new binary ready (no
/// `gateway.json`, no grace), so an accepted update stages, switches and rolls back at once.
struct Rig {
    dir: PathBuf,
    layout: Layout,
    opts: ApplyOptions,
}

impl Rig {
    fn new(name: &str, installed: &str, offered: &str) -> Rig {
        let dir = std::env::temp_dir().join(format!("hearth-update-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rel")).unwrap();
        let old = dir.join("old-hearth");
        std::fs::write(&old, b"#!/bin/sh\n# old\n").unwrap();
        let layout = Layout::new(dir.join("opt"));
        assert!(layout.init(&old, Some(installed.into())).unwrap());
        let new = b"#!/bin/sh\n# new\n";
        std::fs::write(dir.join("rel/hearth-new"), new).unwrap();
        let m = manifest::Manifest {
            version: offered.into(),
            created_unix: 1,
            targets: BTreeMap::from([(
                TARGET.to_string(),
                manifest::Artifact {
                    file: "hearth-new".into(),
                    size: new.len() as u64,
                    sha256: manifest::sha256_hex(new),
                },
            )]),
        };
        let (secret, public) = manifest::keygen().unwrap();
        let envelope = dir.join("rel/release.json");
        std::fs::write(&envelope, manifest::sign(&m, &secret).unwrap()).unwrap();
        let opts = ApplyOptions {
            source: Source::File(envelope),
            trusted: vec![public],
            target: TARGET.into(),
            allow_downgrade: false,
            supervision: Supervision {
                restart_cmd: "true".into(),
                data_dir: dir.join("data"),
                grace: Duration::ZERO,
            },
        };
        Rig { dir, layout, opts }
    }

    fn apply(&self) -> Result<Outcome, UpdateError> {
        apply(&self.layout, &self.opts, &mut |_| {})
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn an_update_from_a_pre_release_to_its_release_is_accepted() {
    let rig = Rig::new("rc-to-release", "1.0.0-rc1", "1.0.0");
    let outcome = rig.apply().unwrap();
    // Past the version check: staged in slot B, tried, and (never ready) rolled back.
    assert!(
        matches!(&outcome, Outcome::RolledBack { version, .. } if version == "1.0.0"),
        "{outcome:?}"
    );
    assert!(rig.layout.binary(Slot::B).exists());
}

#[test]
fn a_pre_release_of_the_installed_release_is_a_downgrade() {
    let mut rig = Rig::new("release-to-rc", "1.0.0", "1.0.0-rc1");
    let err = rig.apply().unwrap_err();
    assert!(
        matches!(&err, UpdateError::Refused(m) if m.contains("older than the installed 1.0.0")),
        "{err}"
    );
    assert!(!rig.layout.binary(Slot::B).exists());
    rig.opts.allow_downgrade = true;
    let outcome = rig.apply().unwrap();
    assert!(
        matches!(&outcome, Outcome::RolledBack { version, .. } if version == "1.0.0-rc1"),
        "{outcome:?}"
    );
}
