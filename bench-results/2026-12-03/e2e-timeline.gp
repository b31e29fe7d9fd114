set terminal pngcairo size 960,600 font ',10'
set output 'e2e-timeline.png'
set key outside right top
set grid y
set title 'virsh destroy -> client served by the standby container (lab)'
set key below
set style data histogram
set style histogram rowstacked
set style fill solid border -1
set boxwidth 0.6
set ylabel 'seconds from virsh destroy'
set yrange [0:*]
plot 'e2e-timeline.dat' using 2:xtic(1) title "detection (trap; Zabbix trigger + action, or trapd's script.execute)", \
  '' using 3 title "recover: lock", \
  '' using 4 title "recover: fence", \
  '' using 5 title "recover: container", \
  '' using 6 title "recover: probe", \
  '' using 7 title "recover: dns", \
  '' using 8 title "client: name switched -> page from the container"
