//! Skills compiled into the binary (the lowest-precedence source): short, read-only
//! instructions that suit a small always-on Linux board. Each is a real SKILL.md in
//! `bundled/<name>/`, parsed at load time like any other. Imports nothing of Hearth.

/// `(folder, SKILL.md text)` of every bundled skill.
pub(crate) const BUNDLED: &[(&str, &str)] = &[
    (
        "service-logs",
        include_str!("bundled/service-logs/SKILL.md"),
    ),
    (
        "system-health",
        include_str!("bundled/system-health/SKILL.md"),
    ),
];
