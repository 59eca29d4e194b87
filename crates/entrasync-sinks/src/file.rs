//! File sink (in progress).
