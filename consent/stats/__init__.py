"""Statistics for operators (issue 17): aggregate counters rolled up from the log and the widget's anonymous
banner marks, outside the decision path, and the figures the console shows from them."""
