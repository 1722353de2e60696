//! `facetwin probe PORT`: handshake, what the head reports, telemetry, link statistics.

use facetwin_link::{
    Connector, HostConfig, HostLink, LinkEvent, LinkState, SerialTransport, Transport,
    msg_type_name,
};
use facetwin_protocol::fault;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Serial port (or a pseudo-terminal / `facetwin head --pty` link).
    pub port: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub baud: u32,
    /// How long to stream telemetry.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Command rate while probing, Hz.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
}

pub fn serial_connector(port: String, baud: u32) -> Connector {
    Box::new(move || SerialTransport::open(&port, baud).map(|t| Box::new(t) as Box<dyn Transport>))
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    // Fail fast with the OS's reason if the port cannot be opened at all.
    drop(SerialTransport::open(&args.port, args.baud)?);
    let config = HostConfig {
        command_rate_hz: args.rate,
        ..HostConfig::default()
    };
    let link = HostLink::start(serial_connector(args.port.clone(), args.baud), config);
    // The probe holds the head where it is, with torque off: it looks, it does not move.
    link.set_torque(false);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let v = link.view();
        if v.state == LinkState::Connected && v.channels.iter().all(|c| !c.name.starts_with("ch")) {
            break;
        }
        if Instant::now() > deadline {
            let reason = match v.state {
                LinkState::Disconnected { reason } => reason,
                other => format!("{other:?}"),
            };
            anyhow::bail!("no handshake with {} within 2 s: {reason}", args.port);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let v = link.view();
    if let Some(info) = v.info {
        println!("head on {}", v.transport);
        println!(
            "  protocol v{}  firmware {}.{}.{}  head id {:#010x}  {} channels  max frame {} B",
            info.protocol_version,
            info.firmware[0],
            info.firmware[1],
            info.firmware[2],
            info.head_id,
            info.channel_count,
            info.max_frame
        );
        println!("  capabilities {:#06x}", info.capabilities);
    }
    println!(
        "  {:>2}  {:<24} {:>7} {:>7} {:>8} {:>9}",
        "ch", "name", "min", "max", "neutral", "travel"
    );
    for (i, c) in v.channels.iter().enumerate() {
        println!(
            "  {i:>2}  {:<24} {:>7.3} {:>7.3} {:>8.3} {:>6.1} mm",
            c.name, c.min_norm, c.max_norm, c.neutral_norm, c.travel_mm
        );
    }
    let positions = v.positions_norm().unwrap_or_default();
    link.set_desired(&positions);
    let start = Instant::now();
    let mut next_print = start;
    while start.elapsed().as_secs_f64() < args.seconds {
        if Instant::now() >= next_print {
            next_print += Duration::from_secs(1);
            let v = link.view();
            if let Some(t) = v.telemetry {
                let line: Vec<String> = t
                    .channels()
                    .iter()
                    .take(6)
                    .map(|c| format!("{:+.3}", c.position_norm()))
                    .collect();
                let faults = t.channels().iter().fold(0u8, |a, c| a | c.faults);
                println!(
                    "  t={:>9.3} s  pos[0..6] {}  status {:#04x}  faults {}",
                    f64::from(t.head_time_us) / 1e6,
                    line.join(" "),
                    t.status,
                    fault_names(faults)
                );
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let v = link.view();
    let s = &v.stats;
    println!("link statistics over {:.1} s", args.seconds);
    println!(
        "  frames out {:>8}  ({:.0}/s)   frames in {:>8}  ({:.0}/s, telemetry {:.0}/s)",
        s.frames_out, s.out_per_s, s.frames_in, s.in_per_s, s.telemetry_per_s
    );
    let d = &s.decoder;
    println!(
        "  decode errors {}: crc {} cobs {} too-long {} too-short {} version {} unknown-type {} bad-length {} bad-value {}",
        d.errors(),
        d.crc,
        d.cobs,
        d.too_long,
        d.too_short,
        d.version,
        d.unknown_type,
        d.bad_length,
        d.bad_value
    );
    println!(
        "  rejected {}  clamped {}  reconnects {}",
        s.rejected,
        s.clamped,
        s.reconnects.saturating_sub(1)
    );
    match (s.rtt_percentile_us(50.0), s.rtt_percentile_us(99.0)) {
        (Some(p50), Some(p99)) => println!(
            "  round trip: p50 {:.2} ms  p99 {:.2} ms  ({} pings)",
            f64::from(p50) / 1e3,
            f64::from(p99) / 1e3,
            s.rtt_us.len()
        ),
        _ => println!("  round trip: no pong received"),
    }
    for e in v
        .events
        .iter()
        .filter(|e| !matches!(e, LinkEvent::Connected { .. }))
    {
        match e {
            LinkEvent::Rejected {
                msg_type,
                code,
                detail,
            } => println!(
                "  rejected {}: {code:?} ({detail})",
                msg_type_name(*msg_type)
            ),
            LinkEvent::Fault {
                channel, faults, ..
            } => println!("  fault on channel {channel}: {}", fault_names(*faults)),
            other => println!("  {other:?}"),
        }
    }
    link.stop();
    Ok(())
}

pub fn fault_names(bits: u8) -> String {
    if bits == 0 {
        return "none".into();
    }
    fault::names(bits).collect::<Vec<_>>().join(",")
}
