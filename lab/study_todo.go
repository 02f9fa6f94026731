package lab

import (
	"errors"
	"strings"
)

type DynamicsRow struct{}

func (DynamicsRow) String() string { return "" }

func (l *Lab) dynamicsReport(st *Study, rep *StudyReport, dir string, md *strings.Builder) error {
	return errors.New("todo")
}
