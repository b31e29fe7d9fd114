package cost

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// share is a row's total as a percentage of conventional warm standby's, the paper's
// way of showing what consolidation saves ("-" when that cannot be said).
func (r *Report) share(row Row) string {
	base := r.Rows[0].TotalUSD()
	if row.NA != "" || base == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*row.TotalUSD()/base)
}

// WriteTable writes the report for a person: what was priced, one line per scheme, and
// the prices used.
func (r *Report) WriteTable(w io.Writer) error {
	pool := "none"
	if len(r.PoolHosts) > 0 {
		ws := make([]string, len(r.Weights))
		for i, wt := range r.Weights {
			ws[i] = fmt.Sprint(wt)
		}
		pool = fmt.Sprintf("%s (weights %s)", strings.Join(r.PoolHosts, ", "), strings.Join(ws, ", "))
	}
	vms := strings.Join(r.StandbyVMs, ", ")
	if vms == "" {
		vms = "none"
	}
	fmt.Fprintf(w, "standby cost per year (%d h), USD: %d services (%d warm, %d cold, %d pooled); standby VMs: %s; pool hosts: %s\n",
		HoursPerYear, r.Services(), r.Warm, r.Cold, r.Pooled, vms, pool)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEME\tPAID FOR\tCOMPUTE\tSTORAGE GB\tSTORAGE\tTOTAL/YEAR\tOF CONVENTIONAL")
	for _, row := range r.Rows {
		if row.NA != "" {
			fmt.Fprintf(tw, "%s\tn/a: %s\t\t\t\t\t-\n", row.Scheme, row.NA)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%.2f\t%.2f\t%s\n", row.Scheme, row.Basis,
			row.ComputeUSD, num(row.StorageGB), row.StorageUSD, row.TotalUSD(), r.share(row))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	p := r.Prices
	_, err := fmt.Fprintf(w, "prices: primary VM %s USD/h, standby VM %s USD/h, storage %s USD/GB-month, %s GB per service, %d user(s) per idle cold-standby VM\n",
		num(p.VMPerHour), num(p.StandbyPerHour), num(p.StoragePerGBMonth), num(p.GBPerService), p.Users)
	if err == nil && p == Defaults() {
		_, err = fmt.Fprintln(w, PriceSource)
	}
	return err
}

// CSVHeader is the CSV's first line: one row per scheme follows, figures per year in USD.
var CSVHeader = []string{"scheme", "paid_for", "compute_usd", "storage_gb", "storage_usd",
	"total_usd", "of_conventional", "not_applicable"}

// WriteCSV writes the report as CSV (RFC 4180) for a spreadsheet or a plot: full
// precision (4 decimals), no totals lines, the inputs left to the caller.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, row := range r.Rows {
		rec := []string{string(row.Scheme), row.Basis, num(row.ComputeUSD), num(row.StorageGB),
			num(row.StorageUSD), num(row.TotalUSD()), strings.TrimSuffix(r.share(row), "%"), row.NA}
		if row.NA != "" {
			rec = []string{string(row.Scheme), "", "", "", "", "", "", row.NA}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Write writes the report as CSV when asCSV is set, else as the table.
func (r *Report) Write(w io.Writer, asCSV bool) error {
	if asCSV {
		return r.WriteCSV(w)
	}
	return r.WriteTable(w)
}
