//! Whether a response is a stream, and why: the module's whole policy, as a pure function of
//! what nginx knows about a response when its header is filtered.
//!
//! A **stream** is a main-request response from an upstream module that buffers (proxy,
//! fastcgi, uwsgi, scgi), with a body, `sse_auto` on, no upstream `X-Accel-Buffering: yes`
//! (unless nginx ignores that header), and either
//! - a stream media type (`sse_auto_types`), or
//! - a stream-if-unsized media type (`sse_auto_unsized_types`), no upstream `Content-Length`,
//!   and, while buffered, not about to be stored by `proxy_cache`/`proxy_store`.
//!
//! Every stream gets the same treatment whoever made it unbuffered: sse_auto switching it, or
//! nginx already (`proxy_buffering off`, the upstream's `X-Accel-Buffering: no`).
//!
//! A response that is not a stream but would be buffered without a length (a PHP page, streamed
//! HTML) is **soft-streamed** when `sse_auto_soft` is on: nginx keeps buffering it, and what
//! waits in nginx is sent when the upstream pauses.
//!
//! The facts are read through [`Response`], in the order [`decide`] needs them, so the header
//! filter reads only what the answer depends on: nearly every response is rejected by its
//! media type, before anything else is looked at.

/// What a response's media type makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// A stream type (`sse_auto_types`): always a stream.
    Stream,
    /// A stream-if-unsized type (`sse_auto_unsized_types`, including "no Content-Type").
    StreamIfUnsized,
    /// Anything else.
    Other,
}

/// Where a response comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// Not an upstream response: static files, `return`, Lua content handlers.
    None,
    /// An upstream module that never buffers or cannot switch (grpc, memcached).
    Fixed,
    /// proxy, fastcgi, uwsgi, scgi: they buffer and honour `X-Accel-Buffering`.
    Switchable,
}

/// The facts about a response, as nginx knows them in the header filter.
///
/// Each is asked at most once, and only when the answer depends on it.
pub trait Response {
    /// `sse_auto on` for the request's location.
    fn enabled(&self) -> bool;
    /// The media type of the response is a stream type.
    fn stream_type(&self) -> bool;
    /// The media type of the response is a stream-if-unsized type (or there is none, and
    /// "none" is one); asked only of responses that are not of a stream type.
    fn unsized_type(&self) -> bool;
    /// The request is the main request (not an SSI include, auth_request, mirror).
    fn main_request(&self) -> bool;
    /// Where the response comes from.
    fn upstream(&self) -> Upstream;
    /// The response has a body to send: not HEAD, not 1xx/204/304, not header-only.
    fn has_body(&self) -> bool;
    /// The response is served from nginx's cache.
    fn cached(&self) -> bool;
    /// The upstream sent a `Content-Length`.
    fn length_known(&self) -> bool;
    /// nginx is buffering the response (not `proxy_buffering off`, no `X-Accel-Buffering: no`).
    fn buffered(&self) -> bool;
    /// The upstream said `X-Accel-Buffering: yes` and nginx does not ignore that header.
    fn upstream_says_buffer(&self) -> bool;
    /// The buffered response may be stored (`proxy_cache` with the response cacheable, or
    /// `proxy_store`).
    fn stored(&self) -> bool;
    /// `sse_auto_soft on` for the request's location.
    fn soft_enabled(&self) -> bool;
}

/// What sse_auto does with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A buffered response of a stream type: switched to unbuffered, given the treatment.
    Switch,
    /// A buffered response of a stream-if-unsized type without length: switched, treated.
    SwitchUnsized,
    /// Already unbuffered by nginx: given the treatment only.
    Unbuffered,
    /// Not a stream, buffered, without a length: soft-streamed (buffering kept, data sent
    /// when the upstream pauses).
    Soft,
    /// Not a stream.
    Leave(Leave),
}

/// Why a response is not a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leave {
    Off,
    NotStreamType,
    /// Not of a stream type, and the upstream sent a `Content-Length`.
    SizedNotStreamType,
    Subrequest,
    NotUpstream,
    CannotSwitch,
    NoBody,
    FromCache,
    UpstreamSaysBuffer,
    Stored,
}

impl Decision {
    /// The response is a stream (it gets the stream treatment).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Decision::Switch | Decision::SwitchUnsized | Decision::Unbuffered
        )
    }

    /// sse_auto turns nginx's buffering off for the response.
    pub fn switches(self) -> bool {
        matches!(self, Decision::Switch | Decision::SwitchUnsized)
    }

    /// The value of `$sse_auto`: what was decided, in one word; empty when left alone.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Switch => "switched",
            Decision::SwitchUnsized => "unsized",
            Decision::Unbuffered => "unbuffered",
            Decision::Soft => "soft",
            Decision::Leave(_) => "",
        }
    }

    /// For the debug log: what was decided and why.
    pub fn describe(self) -> &'static str {
        match self {
            Decision::Switch => "stream type, switched to unbuffered",
            Decision::SwitchUnsized => "unsized stream-if-unsized type, switched to unbuffered",
            Decision::Unbuffered => "stream, already unbuffered",
            Decision::Soft => "buffered without length, soft-streamed",
            Decision::Leave(why) => why.describe(),
        }
    }
}

impl Leave {
    pub fn describe(self) -> &'static str {
        match self {
            Leave::Off => "left alone: sse_auto off",
            Leave::NotStreamType => "left alone: not a stream media type",
            Leave::SizedNotStreamType => "left alone: not a stream media type, has Content-Length",
            Leave::Subrequest => "left alone: subrequest",
            Leave::NotUpstream => "left alone: not an upstream response",
            Leave::CannotSwitch => "left alone: upstream module cannot switch buffering",
            Leave::NoBody => "left alone: no body to stream",
            Leave::FromCache => "left alone: served from cache",
            Leave::UpstreamSaysBuffer => "left alone: upstream sent \"X-Accel-Buffering: yes\"",
            Leave::Stored => "left alone: stream-if-unsized type being cached or stored",
        }
    }
}

/// The decision for a response.
#[inline(always)]
pub fn decide<R: Response + ?Sized>(r: &R) -> Decision {
    use Decision::Leave as L;

    if !r.enabled() {
        return L(Leave::Off);
    }
    let stream_type = r.stream_type();
    // Not a stream type: a stream-if-unsized type, or soft-streamed, only without a length.
    let mut unsized_type = false;
    if !stream_type {
        // The length is cheaper to read than the type list: most responses have one.
        if r.length_known() {
            return L(Leave::SizedNotStreamType);
        }
        unsized_type = r.unsized_type();
        if !unsized_type && !r.soft_enabled() {
            return L(Leave::NotStreamType);
        }
    }
    let stream = stream_type || unsized_type;
    if !r.main_request() {
        // SSI includes, auth_request, mirrors: the main request decides how it is sent.
        return L(Leave::Subrequest);
    }
    match r.upstream() {
        Upstream::None => return L(Leave::NotUpstream),
        Upstream::Fixed => return L(Leave::CannotSwitch),
        Upstream::Switchable => {}
    }
    if !r.has_body() {
        return L(Leave::NoBody);
    }
    if r.cached() {
        return L(Leave::FromCache);
    }
    if !r.buffered() {
        // nginx streams it already and stores nothing in non-buffered mode; an upstream
        // "X-Accel-Buffering: yes" that nginx honours would have turned buffering on.
        if stream {
            return Decision::Unbuffered;
        }
        return L(Leave::NotStreamType);
    }
    // A stream sse_auto would unbuffer: the application's "X-Accel-Buffering: yes" wins.
    if stream_type || (unsized_type && !r.stored()) {
        if r.upstream_says_buffer() {
            return L(Leave::UpstreamSaysBuffer);
        }
        return if stream_type {
            Decision::Switch
        } else {
            Decision::SwitchUnsized
        };
    }
    // Buffered, without a length, and not to be unbuffered: being stored, or not a stream.
    // Soft streaming keeps nginx's buffering, so "X-Accel-Buffering: yes" does not stop it.
    if r.soft_enabled() {
        return Decision::Soft;
    }
    L(if unsized_type {
        Leave::Stored
    } else {
        Leave::NotStreamType
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A response as plain values, counting the facts asked.
    #[derive(Clone, Default)]
    struct Facts {
        enabled: bool,
        media: Option<Media>,
        main_request: bool,
        upstream: Option<Upstream>,
        has_body: bool,
        from_cache: bool,
        length_known: bool,
        buffered: bool,
        says_buffer: bool,
        stored: bool,
        soft: bool,
        asked: Cell<u32>,
    }

    impl Facts {
        fn ask<T>(&self, bit: u32, v: T) -> T {
            assert_eq!(self.asked.get() & bit, 0, "fact {bit} asked twice");
            self.asked.set(self.asked.get() | bit);
            v
        }
    }

    impl Response for Facts {
        fn enabled(&self) -> bool {
            self.ask(1, self.enabled)
        }
        fn stream_type(&self) -> bool {
            self.ask(2, self.media == Some(Media::Stream))
        }
        fn unsized_type(&self) -> bool {
            self.ask(1024, self.media == Some(Media::StreamIfUnsized))
        }
        fn main_request(&self) -> bool {
            self.ask(4, self.main_request)
        }
        fn upstream(&self) -> Upstream {
            self.ask(8, self.upstream.unwrap_or(Upstream::None))
        }
        fn has_body(&self) -> bool {
            self.ask(16, self.has_body)
        }
        fn cached(&self) -> bool {
            self.ask(32, self.from_cache)
        }
        fn length_known(&self) -> bool {
            self.ask(64, self.length_known)
        }
        fn buffered(&self) -> bool {
            self.ask(128, self.buffered)
        }
        fn upstream_says_buffer(&self) -> bool {
            self.ask(256, self.says_buffer)
        }
        fn stored(&self) -> bool {
            self.ask(512, self.stored)
        }
        fn soft_enabled(&self) -> bool {
            // Asked at most twice: before and after the buffering facts.
            self.asked.set(self.asked.get() | 2048);
            self.soft
        }
    }

    const MEDIA: [Media; 3] = [Media::Stream, Media::StreamIfUnsized, Media::Other];
    const UPSTREAM: [Upstream; 3] = [Upstream::None, Upstream::Fixed, Upstream::Switchable];

    /// Every combination of facts.
    fn all() -> impl Iterator<Item = Facts> {
        (0..3 * 3 * (1 << 9)).map(|i| {
            let bits = i >> 4;
            let bit = |n: u32| bits & (1 << n) != 0;
            Facts {
                media: Some(MEDIA[(i % 3) as usize]),
                upstream: Some(UPSTREAM[(i / 3 % 3) as usize]),
                enabled: bit(0),
                main_request: bit(1),
                has_body: bit(2),
                from_cache: bit(3),
                length_known: bit(4),
                buffered: bit(5),
                says_buffer: bit(6),
                stored: bit(7),
                soft: bit(8),
                asked: Cell::new(0),
            }
        })
    }

    /// What makes a soft-streamed response, as a single expression.
    fn is_soft(f: &Facts) -> bool {
        f.enabled
            && f.soft
            && f.main_request
            && f.upstream == Some(Upstream::Switchable)
            && f.has_body
            && !f.from_cache
            && !f.length_known
            && f.buffered
            && match f.media.unwrap_or(Media::Other) {
                Media::Stream => false,
                Media::StreamIfUnsized => f.stored,
                Media::Other => true,
            }
    }

    /// The rule, written the other way round: what makes a stream, as a single expression.
    fn is_stream(f: &Facts) -> bool {
        let media = f.media.unwrap_or(Media::Other);
        f.enabled
            && f.main_request
            && f.upstream == Some(Upstream::Switchable)
            && f.has_body
            && !f.from_cache
            && match media {
                Media::Stream => !f.buffered || !f.says_buffer,
                Media::StreamIfUnsized => {
                    !f.length_known && (!f.buffered || (!f.says_buffer && !f.stored))
                }
                Media::Other => false,
            }
    }

    #[test]
    fn every_combination_agrees_with_the_rule() {
        let mut streams = 0;
        let mut count = 0;
        for f in all() {
            count += 1;
            let d = decide(&f);
            assert_eq!(d.is_stream(), is_stream(&f), "{d:?}");
            assert_eq!(d == Decision::Soft, is_soft(&f), "{d:?}");
            assert!(!(d.is_stream() && d == Decision::Soft));
            if d == Decision::Soft {
                assert_eq!(d.label(), "soft");
                assert!(!d.switches());
            } else if d.is_stream() {
                streams += 1;
                // Switched exactly when nginx was buffering it.
                assert_eq!(d.switches(), f.buffered, "{d:?}");
                assert!(!d.label().is_empty());
                let unsized_switch = f.media == Some(Media::StreamIfUnsized) && f.buffered;
                assert_eq!(d == Decision::SwitchUnsized, unsized_switch);
            } else {
                assert_eq!(d.label(), "");
                assert!(d.describe().starts_with("left alone: "));
            }
        }
        assert_eq!(count, 3 * 3 * 512);
        assert!(streams > 0);
    }

    #[test]
    fn most_responses_cost_a_few_facts() {
        // Not a stream type: `enabled`, `stream_type`, `length_known` and, without a length,
        // `unsized_type` are read (the header filter's common path).
        for f in all().filter(|f| f.enabled && f.media != Some(Media::Stream) && f.length_known) {
            assert_eq!(decide(&f), Decision::Leave(Leave::SizedNotStreamType));
            assert_eq!(f.asked.get(), 1 | 2 | 64);
        }
        for f in all()
            .filter(|f| f.enabled && f.media == Some(Media::Other) && !f.length_known && !f.soft)
        {
            assert_eq!(decide(&f), Decision::Leave(Leave::NotStreamType));
            assert_eq!(f.asked.get(), 1 | 2 | 64 | 1024 | 2048);
        }
        // A stream type: its length is never asked.
        for f in all().filter(|f| f.media == Some(Media::Stream)) {
            decide(&f);
            assert_eq!(f.asked.get() & (64 | 1024), 0);
        }
        for f in all().filter(|f| !f.enabled) {
            assert_eq!(decide(&f), Decision::Leave(Leave::Off));
            assert_eq!(f.asked.get(), 1);
        }
    }

    #[test]
    fn the_header_walk_only_for_buffered_candidates() {
        // `upstream_says_buffer` walks the upstream's headers: asked only when the answer
        // depends on it.
        for f in all() {
            let d = decide(&f);
            let asked = f.asked.get() & 256 != 0;
            let needed = f.enabled
                && f.main_request
                && f.upstream == Some(Upstream::Switchable)
                && f.has_body
                && !f.from_cache
                && f.buffered
                && match f.media.unwrap_or(Media::Other) {
                    Media::Stream => true,
                    Media::StreamIfUnsized => !f.length_known && !f.stored,
                    Media::Other => false,
                };
            assert_eq!(asked, needed, "{d:?}");
        }
    }

    fn stream_facts(media: Media) -> Facts {
        Facts {
            enabled: true,
            media: Some(media),
            main_request: true,
            upstream: Some(Upstream::Switchable),
            has_body: true,
            buffered: true,
            ..Facts::default()
        }
    }

    #[test]
    fn named_cases() {
        let sse = stream_facts(Media::Stream);
        assert_eq!(decide(&sse), Decision::Switch);

        let text = stream_facts(Media::StreamIfUnsized);
        assert_eq!(decide(&text), Decision::SwitchUnsized);

        // proxy_buffering off: treated, not switched.
        let off = Facts {
            buffered: false,
            ..stream_facts(Media::Stream)
        };
        assert_eq!(decide(&off), Decision::Unbuffered);

        // text/plain with Content-Length stays buffered, whatever the buffering.
        let sized = Facts {
            length_known: true,
            ..stream_facts(Media::StreamIfUnsized)
        };
        assert_eq!(decide(&sized), Decision::Leave(Leave::SizedNotStreamType));
        let sized_unbuffered = Facts {
            buffered: false,
            length_known: true,
            ..stream_facts(Media::StreamIfUnsized)
        };
        assert_eq!(
            decide(&sized_unbuffered),
            Decision::Leave(Leave::SizedNotStreamType)
        );

        // An event stream with a length is still an event stream.
        let sse_sized = Facts {
            length_known: true,
            ..stream_facts(Media::Stream)
        };
        assert_eq!(decide(&sse_sized), Decision::Switch);

        // proxy_cache: unsized text stays buffered and stored; event streams are not stored.
        let cached_text = Facts {
            stored: true,
            ..stream_facts(Media::StreamIfUnsized)
        };
        assert_eq!(decide(&cached_text), Decision::Leave(Leave::Stored));
        let cached_sse = Facts {
            stored: true,
            ..stream_facts(Media::Stream)
        };
        assert_eq!(decide(&cached_sse), Decision::Switch);

        // The application's explicit word wins.
        let yes = Facts {
            says_buffer: true,
            ..stream_facts(Media::Stream)
        };
        assert_eq!(decide(&yes), Decision::Leave(Leave::UpstreamSaysBuffer));

        let head = Facts {
            has_body: false,
            ..stream_facts(Media::Stream)
        };
        assert_eq!(decide(&head), Decision::Leave(Leave::NoBody));

        let grpc = Facts {
            upstream: Some(Upstream::Fixed),
            ..stream_facts(Media::Stream)
        };
        assert_eq!(decide(&grpc), Decision::Leave(Leave::CannotSwitch));
    }

    #[test]
    fn soft_cases() {
        let soft = |media| Facts {
            soft: true,
            ..stream_facts(media)
        };
        // A PHP page or streamed HTML: buffered, without a length.
        assert_eq!(decide(&soft(Media::Other)), Decision::Soft);
        // Unsized text that nginx will cache: stays buffered, soft-streamed.
        let stored = Facts {
            stored: true,
            ..soft(Media::StreamIfUnsized)
        };
        assert_eq!(decide(&stored), Decision::Soft);
        // Streams are switched, not soft-streamed.
        assert_eq!(decide(&soft(Media::Stream)), Decision::Switch);
        assert_eq!(
            decide(&soft(Media::StreamIfUnsized)),
            Decision::SwitchUnsized
        );
        // With a length, unbuffered, or the upstream asking for buffering: left alone.
        let sized = Facts {
            length_known: true,
            ..soft(Media::Other)
        };
        assert_eq!(decide(&sized), Decision::Leave(Leave::SizedNotStreamType));
        let unbuffered = Facts {
            buffered: false,
            ..soft(Media::Other)
        };
        assert_eq!(decide(&unbuffered), Decision::Leave(Leave::NotStreamType));
        // Soft streaming keeps the buffering an upstream's "X-Accel-Buffering: yes" asks for.
        let yes = Facts {
            says_buffer: true,
            ..soft(Media::Other)
        };
        assert_eq!(decide(&yes), Decision::Soft);
        let static_file = Facts {
            upstream: Some(Upstream::None),
            ..soft(Media::Other)
        };
        assert_eq!(decide(&static_file), Decision::Leave(Leave::NotUpstream));
    }

    #[test]
    fn labels() {
        assert_eq!(Decision::Switch.label(), "switched");
        assert_eq!(Decision::SwitchUnsized.label(), "unsized");
        assert_eq!(Decision::Unbuffered.label(), "unbuffered");
        assert_eq!(Decision::Soft.label(), "soft");
        assert_eq!(Decision::Leave(Leave::Off).label(), "");
    }
}
