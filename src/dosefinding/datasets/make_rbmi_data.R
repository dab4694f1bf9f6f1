# Export rbmi's antidepressant_data to src/dosefinding/datasets/data/rbmi/antidepressant_data.csv.
#
# rbmi is not on this machine's CRAN mirror: the data file is read from the rbmi repository
# (github.com/openpharma/rbmi, commit 5961fa07, file data/antidepressant_data.rda, Apache-2.0).
# Run from the repository root:  Rscript src/dosefinding/datasets/make_rbmi_data.R PATH/TO/antidepressant_data.rda
# The columns are integers or short decimals written exactly; factors as their labels.
args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 1)
load(args[1])
frame <- as.data.frame(antidepressant_data)
for (name in names(frame)) {
  if (is.factor(frame[[name]])) frame[[name]] <- as.character(frame[[name]])
  if (is.double(frame[[name]])) stopifnot(all(as.numeric(sprintf("%.15g", frame[[name]])) == frame[[name]], na.rm = TRUE))
}
out <- file.path("src", "dosefinding", "datasets", "data", "rbmi", "antidepressant_data.csv")
write.csv(frame, out, row.names = FALSE, quote = FALSE, na = "")
