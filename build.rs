//! Records the target triple (`HEARTH_TARGET`) so `hearth update` picks its own binary from a
//! release manifest.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=HEARTH_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
