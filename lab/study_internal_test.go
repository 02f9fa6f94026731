package lab

// RuleCountsForTest exposes ruleCounts to the external tests.
var RuleCountsForTest = ruleCounts
