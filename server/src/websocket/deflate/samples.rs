//! Realistic messages for the tests and measurements: values change from
//! message to message, as real feeds do (identical messages compress to
//! almost nothing with context and flatter every setting).

/// A small deterministic generator (xorshift64), so runs can be compared.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[low, high)` with six decimal digits of resolution.
    pub(crate) fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (self.next_u64() % 1_000_000) as f64 / 1_000_000.0 * (high - low)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

const INSTRUMENTS: [(&str, &str, &str); 8] = [
    ("AAPL", "Apple Inc.", "NASDAQ"),
    ("MSFT", "Microsoft Corporation", "NASDAQ"),
    ("GOOGL", "Alphabet Inc. Class A", "NASDAQ"),
    ("AMZN", "Amazon.com, Inc.", "NASDAQ"),
    ("JPM", "JPMorgan Chase & Co.", "NYSE"),
    ("XOM", "Exxon Mobil Corporation", "NYSE"),
    ("TSLA", "Tesla, Inc.", "NASDAQ"),
    ("BRK.B", "Berkshire Hathaway Inc. Class B", "NYSE"),
];

/// A market-data message of about 4 KiB of JSON: quotes for a few
/// instruments with fresh prices, volumes and timestamps.
pub(crate) fn market_json(seq: u64, rng: &mut Rng) -> Vec<u8> {
    let base = 1_700_000_000_000u64 + seq * 97;
    let mut json = format!(
        "{{\"type\":\"quotes\",\"seq\":{seq},\"ts\":{},\"quotes\":[",
        base + rng.next_u64() % 50
    );
    for i in 0.. {
        if json.len() >= 4000 {
            break;
        }
        let (symbol, name, exchange) = INSTRUMENTS[i % INSTRUMENTS.len()];
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "{{\"symbol\":\"{symbol}\",\"name\":\"{name}\",\"exchange\":\"{exchange}\",\
             \"bid\":{:.2},\"ask\":{:.2},\"last\":{:.2},\"change\":{:.2},\
             \"volume\":{},\"ts\":{}}}",
            rng.between(10.0, 900.0),
            rng.between(10.0, 900.0),
            rng.between(10.0, 900.0),
            rng.between(-20.0, 20.0),
            rng.next_u64() % 50_000_000,
            base + rng.next_u64() % 100_000,
        ));
    }
    json.push_str("]}");
    json.into_bytes()
}

/// A line of the plot demo's stream: `0 i random\n`.
pub(crate) fn plot_line(i: u64, rng: &mut Rng) -> Vec<u8> {
    format!("0 {i} {}\n", rng.between(0.0, 1.0)).into_bytes()
}

/// A chat message of a hundred-odd bytes of JSON.
pub(crate) fn chat_json(seq: u64, rng: &mut Rng) -> Vec<u8> {
    const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
    const WORDS: [&str; 12] = [
        "hello", "anyone", "seen", "the", "new", "build", "it", "works", "for", "me", "now",
        "thanks",
    ];
    let words: Vec<&str> = (0..3 + rng.next_u64() % 10)
        .map(|_| WORDS[(rng.next_u64() % WORDS.len() as u64) as usize])
        .collect();
    format!(
        "{{\"type\":\"message\",\"id\":{seq},\"room\":\"general\",\"user\":\"{}\",\"text\":\"{}\"}}",
        USERS[(rng.next_u64() % 4) as usize],
        words.join(" ")
    )
    .into_bytes()
}
