//! `sse_auto_types` / `sse_auto_unsized_types` arguments: every list the configuration
//! parser accepts is made of lowercase `type/subtype` entries without duplicates, each of
//! which the matcher then finds in a Content-Type of exactly that value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_auto_core::media_type::{config_types, Matcher, EVENT_STREAM};
use sse_auto_core::reference;

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|&c| c == b' ').collect();
    let Ok(types) = config_types(Some(EVENT_STREAM), args.iter().copied()) else {
        return;
    };
    assert_eq!(&*types[0], EVENT_STREAM);
    for (i, t) in types.iter().enumerate() {
        assert_eq!(reference::media_type(t).as_deref(), Some(&**t), "{:?}", t);
        assert!(!types[..i].contains(t), "duplicate {:?}", t);
    }
    let matcher = Matcher::new(types.clone());
    for t in &types {
        let upper = t.to_ascii_uppercase();
        assert!(matcher.find(&upper).is_some(), "{:?} not found", t);
    }
});
