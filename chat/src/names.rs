//! Anonymous display names: stable per connection id, no state needed.

const ADJECTIVES: [&str; 16] = [
    "Amber", "Brave", "Calm", "Daring", "Eager", "Fuzzy", "Gentle", "Happy", "Icy", "Jolly",
    "Keen", "Lucky", "Mellow", "Nimble", "Quiet", "Swift",
];
const ANIMALS: [&str; 16] = [
    "Otter", "Falcon", "Panda", "Lynx", "Heron", "Koala", "Badger", "Tiger", "Wombat", "Fox",
    "Gecko", "Marten", "Owl", "Puffin", "Seal", "Yak",
];

/// A name like `Swift Otter 3f`, derived from the id (FNV-1a), the same on every node.
pub fn anonymous_name(id: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!(
        "{} {} {:02x}",
        ADJECTIVES[(hash & 15) as usize],
        ANIMALS[((hash >> 4) & 15) as usize],
        (hash >> 8) & 0xff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_differ() {
        assert_eq!(anonymous_name("abc"), anonymous_name("abc"));
        assert_ne!(anonymous_name("abc"), anonymous_name("abd"));
    }
}
