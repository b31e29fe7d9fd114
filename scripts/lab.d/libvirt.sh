# shellcheck shell=bash
# Lab component libvirt: not written yet.
libvirt_up() { lab_die "component libvirt is not written yet"; }
libvirt_down() { :; }
libvirt_status() { lab_status_line libvirt missing -; return 1; }
libvirt_env() { :; }
