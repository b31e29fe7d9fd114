# shellcheck shell=bash
# Lab component snmp: not written yet.
snmp_up() { lab_die "component snmp is not written yet"; }
snmp_down() { :; }
snmp_status() { lab_status_line snmp missing -; return 1; }
snmp_env() { :; }
