set terminal pngcairo size 960,420 font ',10'
set output 'availability-migration.png'
set key outside right top
set grid y
set title "client every 10 ms during a move standby -> big (start at 0)"
set xlabel "seconds from the start of the move"
set ylabel 'served (1) / not (0), one band per run'
unset key
set yrange [-0.3:4.5]
set ytics ()
set ytics add ("vcr-migrate (100 MB)" 0.5)
set ytics add ("stock (100 MB)" 2.0)
set ytics add ("stateless (100 MB)" 3.5)
plot 'availability-migration-0.dat' using 1:($2+0.0) with steps lw 2 title "vcr-migrate (100 MB)", \
  'availability-migration-1.dat' using 1:($2+1.5) with steps lw 2 title "stock (100 MB)", \
  'availability-migration-2.dat' using 1:($2+3.0) with steps lw 2 title "stateless (100 MB)"
