//! The WebSocket frame layer (RFC 6455), without I/O.
//!
//! `decode` turns the bytes a client sent into whole messages and control frames: it checks
//! the framing rules (masking, reserved bits, control frame limits, fragmentation order,
//! close codes), unmasks in place, validates UTF-8 as fragments arrive, and enforces the
//! message size limit from the frame header, before any payload is buffered. `encode` builds
//! server frames: one allocation holding header and payload, so the same bytes can be
//! queued for every subscriber of a topic (server frames are not masked).
//!
//! Frame headers are parsed and written by tungstenite's `FrameHeader`; what this module
//! adds is the message layer on top, built for our buffers: the connection hands it a slice
//! of the per-thread read buffer and keeps bytes only while a frame is incomplete.
//! The connection task in `server::connection` does the I/O.

pub mod decode;
pub mod encode;

pub use decode::{DecodeError, Decoded, Decoder, Inbound};
