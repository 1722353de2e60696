//! The engineer's command-line tools.

pub mod bench;
pub mod head;
pub mod import;
pub mod probe;
pub mod run;

/// `facetwin ports`
pub fn ports() -> anyhow::Result<()> {
    let ports = facetwin_link::list_ports()?;
    if ports.is_empty() {
        println!("no serial ports found (a virtual head: `facetwin head --pty`)");
    }
    for p in &ports {
        println!("{}", facetwin_link::describe_port(p));
    }
    Ok(())
}

/// Loads a head description, or the default head.
pub fn head_config(path: Option<&std::path::Path>) -> anyhow::Result<facetwin_head::HeadConfig> {
    Ok(match path {
        Some(p) => facetwin_head::HeadConfig::load(p)?,
        None => facetwin_head::HeadConfig::default_head(),
    })
}
