package lab

import (
	"context"
	"errors"
	"strings"
)

type RobustRow struct{}
type DynamicsRow struct{}

func (RobustRow) String() string   { return "" }
func (DynamicsRow) String() string { return "" }

func (l *Lab) studyAttacks(ctx context.Context, st *Study, say func(string)) error {
	return errors.New("todo")
}
func (l *Lab) robustnessReport(st *Study, rep *StudyReport, dir string, md *strings.Builder) error {
	return errors.New("todo")
}
func (l *Lab) dynamicsReport(st *Study, rep *StudyReport, dir string, md *strings.Builder) error {
	return errors.New("todo")
}
