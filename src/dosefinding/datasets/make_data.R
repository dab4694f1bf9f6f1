# Export R DoseFinding's example data sets to the CSV files of dosefinding.datasets.
#
# Run from the repository root:  Rscript src/dosefinding/datasets/make_data.R
# Each double is written with 15 significant digits when that reads back bit-identical, else 17.
# Factors are written as their labels (IBScovars$gender: "1", "2").
# The data are DoseFinding's (GPL-3, https://CRAN.R-project.org/package=DoseFinding);
# their original sources are listed in src/dosefinding/datasets/__init__.py.
suppressPackageStartupMessages(library(DoseFinding))

out_dir <- file.path("src", "dosefinding", "datasets", "data")
stopifnot(dir.exists(out_dir))

write_exact <- function(frame, file) {
  for (name in names(frame)) {
    column <- frame[[name]]
    if (is.factor(column)) {
      frame[[name]] <- as.character(column)
    } else if (is.double(column)) {
      short <- sprintf("%.15g", column)
      frame[[name]] <- ifelse(as.numeric(short) == column, short, sprintf("%.17g", column))
    }
  }
  write.csv(frame, file.path(out_dir, file), row.names = FALSE, quote = FALSE)
}

for (name in c("biom", "IBScovars", "glycobrom", "migraine", "neurodeg")) {
  env <- new.env()
  data(list = name, package = "DoseFinding", envir = env)
  write_exact(get(name, envir = env), paste0(tolower(name), ".csv"))
}
writeLines(paste("DoseFinding", as.character(packageVersion("DoseFinding")), R.version.string),
           file.path(out_dir, "dosefinding_r_version.txt"))
