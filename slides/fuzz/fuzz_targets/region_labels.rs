//! Region-label maps (inline `Class=LABEL,...` specs) on arbitrary text: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use melanoscope_slides::annotations::RegionLabelMap;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && !text.contains(['/', '\\'])
        && let Ok(map) = RegionLabelMap::parse_spec(text)
    {
        for class in map.known_classes() {
            assert!(map.get(&class).is_some(), "{class:?} is listed but not mapped");
        }
    }
});
