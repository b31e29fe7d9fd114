# shellcheck shell=bash
# Lab component zabbix: not written yet.
zabbix_up() { lab_die "component zabbix is not written yet"; }
zabbix_down() { :; }
zabbix_status() { lab_status_line zabbix missing -; return 1; }
zabbix_env() { :; }
