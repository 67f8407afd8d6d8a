//! Integration tests: the real `qrlogin` binary against the built-in simulator.

mod add_account;
mod doctor;
mod encryption;
mod faults;
mod hardening;
mod hostile;
mod newcomer;
mod output;
mod pg;
mod postgres;
mod refresh;
mod renewal;
mod simulator;
mod stopped;
mod store;
mod support;
mod terminal;
mod tls;
mod trace;
mod web;
