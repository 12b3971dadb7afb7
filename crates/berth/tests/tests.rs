//! Integration tests: the real `berth` binary, real containers, as root, each test under its
//! own temporary state root. They fail (never skip) when root or busybox-static is missing.

mod api;
mod build;
mod common;
mod containers;
mod data;
mod disk_full;
mod images;
mod isolation;
mod lifecycle;
mod lifecycle2;
mod logs;
mod network;
mod registry;
mod reliability;
mod robustness;
mod security;
mod terminal;
