# shellcheck shell=bash
# Lab component lxd: not written yet.
lxd_up() { lab_die "component lxd is not written yet"; }
lxd_down() { :; }
lxd_status() { lab_status_line lxd missing -; return 1; }
lxd_env() { :; }
