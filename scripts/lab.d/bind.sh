# shellcheck shell=bash
# Lab component bind: not written yet.
bind_up() { lab_die "component bind is not written yet"; }
bind_down() { :; }
bind_status() { lab_status_line bind missing -; return 1; }
bind_env() { :; }
