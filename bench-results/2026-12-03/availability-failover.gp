set terminal pngcairo size 960,420 font ',10'
set output 'availability-failover.png'
set key outside right top
set grid y
set title "client every 10 ms during a failover (virsh destroy at 0)"
set xlabel "seconds from virsh destroy"
set ylabel 'served (1) / not (0), one band per run'
unset key
set yrange [-0.3:3.0]
set ytics ()
set ytics add ("failover, action path" 0.5)
set ytics add ("failover, fast path" 2.0)
plot 'availability-failover-0.dat' using 1:($2+0.0) with steps lw 2 title "failover, action path", \
  'availability-failover-1.dat' using 1:($2+1.5) with steps lw 2 title "failover, fast path"
