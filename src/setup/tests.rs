use super::*;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hearth-setup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn target(dir: &Path, systemd: bool) -> Target {
    Target {
        root: PathBuf::from("/"),
        config: dir.join("hearth.toml"),
        credentials: dir.join("credentials"),
        systemd,
        dropin: dir.join("hearth.service.d/credentials.conf"),
        data_dir: dir.join("data"),
        pin_data_dir: true,
    }
}

#[test]
fn secrets_get_safe_unique_names_and_the_right_reference() {
    let d = scratch("names");
    let mut s = Secrets::default();
    let t = target(&d, false);
    let a = s.put(&t, "Telegram/Token", "v1");
    assert_eq!(
        a.as_str(),
        format!("file:{}", d.join("credentials/telegram-token").display())
    );
    let b = s.put(&t, "Telegram/Token", "v2");
    assert!(b.as_str().ends_with("telegram-token-2"), "{}", b.as_str());
    assert_eq!(s.put(&t, "telegram-token", "v1").as_str(), a.as_str());
    let sys = target(&d, true);
    assert_eq!(s.put(&sys, ".hidden", "x").as_str(), "credential:s.hidden");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_plan_is_validated_before_anything_is_written() {
    let d = scratch("invalid");
    let mut t = toml::Table::new();
    t.insert("gateway".into(), toml::Value::Table(toml::Table::new()));
    t["gateway"]
        .as_table_mut()
        .unwrap()
        .insert("port".into(), "eighty".into());
    let e = Plan::new(target(&d, false), "", t, Secrets::default(), Vec::new()).unwrap_err();
    assert!(e.to_string().contains("gateway.port"), "{e}");
    assert!(!d.join("hearth.toml").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn write_keeps_the_old_config_secrets_private_and_merges_the_dropin() {
    use std::os::unix::fs::PermissionsExt;
    let d = scratch("write");
    let t = target(&d, true);
    std::fs::create_dir_all(t.dropin.parent().unwrap()).unwrap();
    std::fs::write(
        &t.dropin,
        "[Service]\nLoadCredential=old:/x/old\nLoadCredential=tg:/x/stale\n",
    )
    .unwrap();
    let mut secrets = Secrets::default();
    let r = secrets.put(&t, "tg", "123:abc");
    let mut table = toml::Table::new();
    let mut tg = toml::Table::new();
    tg.insert("token".into(), r.as_str().into());
    let mut ch = toml::Table::new();
    ch.insert("telegram".into(), tg.into());
    table.insert("channels".into(), ch.into());
    let plan = Plan::new(t.clone(), "hello\n\nworld", table, secrets, Vec::new()).unwrap();
    assert!(
        plan.toml.starts_with("# hello\n#\n# world\n"),
        "{}",
        plan.toml
    );
    std::fs::write(&t.config, "old = true\n").unwrap();
    let mut report = Report::default();
    let e = plan.write(false, &mut report).unwrap_err();
    assert!(matches!(e, SetupError::Exists(_)), "{e}");
    assert!(!t.credentials.exists(), "nothing written on refusal");
    plan.write(true, &mut report).unwrap();
    assert_eq!(
        std::fs::read_to_string(d.join("hearth.toml.bak")).unwrap(),
        "old = true\n"
    );
    assert_eq!(std::fs::read_to_string(&t.config).unwrap(), plan.toml);
    let f = t.credentials.join("tg");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "123:abc\n");
    assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(
        t.credentials.metadata().unwrap().permissions().mode() & 0o777,
        0o700
    );
    let dropin = std::fs::read_to_string(&t.dropin).unwrap();
    assert!(dropin.contains("LoadCredential=old:/x/old"), "{dropin}");
    assert!(
        dropin.contains(&format!("LoadCredential=tg:{}", f.display())),
        "{dropin}"
    );
    assert!(!dropin.contains("stale"), "{dropin}");
    let _ = std::fs::remove_dir_all(&d);
}
