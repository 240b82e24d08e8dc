package locale

import (
	"strings"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

// The date layouts are Go layouts translated like any message: a translator
// orders day, month and year and writes the punctuation; the month, written
// "Jan" in the layout, becomes the language's own abbreviation.
var (
	layoutDateTime = i18n.Message{ID: "date.layout.datetime", Description: "Go time layout: 2=day, Jan=month, 2006=year, 15:04=time, MST=zone", Other: "2 Jan 2006, 15:04 MST"}
	layoutDate     = i18n.Message{ID: "date.layout.date", Description: "Go time layout: 2=day, Jan=month, 2006=year", Other: "2 Jan 2006"}
)

var monthNames = []i18n.Message{
	{ID: "date.month.1", Description: "abbreviated month", Other: "Jan"},
	{ID: "date.month.2", Description: "abbreviated month", Other: "Feb"},
	{ID: "date.month.3", Description: "abbreviated month", Other: "Mar"},
	{ID: "date.month.4", Description: "abbreviated month", Other: "Apr"},
	{ID: "date.month.5", Description: "abbreviated month", Other: "May"},
	{ID: "date.month.6", Description: "abbreviated month", Other: "Jun"},
	{ID: "date.month.7", Description: "abbreviated month", Other: "Jul"},
	{ID: "date.month.8", Description: "abbreviated month", Other: "Aug"},
	{ID: "date.month.9", Description: "abbreviated month", Other: "Sep"},
	{ID: "date.month.10", Description: "abbreviated month", Other: "Oct"},
	{ID: "date.month.11", Description: "abbreviated month", Other: "Nov"},
	{ID: "date.month.12", Description: "abbreviated month", Other: "Dec"},
}

type dateFormats struct {
	dateTime, date string
	months         [12]string
}

// prepareDates translates the layouts and month names once, as l's
// catalogue is read (load, before the catalogue is in use).
func (l *Localizer) prepareDates() *dateFormats {
	d := &dateFormats{dateTime: l.tr(layoutDateTime), date: l.tr(layoutDate)}
	for i, m := range monthNames {
		d.months[i] = l.tr(m)
	}
	return d
}

// tr is T on a catalogue being read: its plain messages, else English.
func (l *Localizer) tr(m i18n.Message) string {
	if s, ok := l.cat.plain[m.ID]; ok {
		return s
	}
	return m.Other
}

func (l *Localizer) format(t time.Time, layout string) string {
	s := t.In(l.tz).Format(layout)
	if l.lang == "en" || !strings.Contains(layout, "Jan") {
		return s
	}
	m := t.In(l.tz).Month()
	return strings.Replace(s, m.String()[:3], l.messages().dates.months[m-1], 1)
}

// DateTime formats t as a date and time in the reader's language and zone.
func (l *Localizer) DateTime(t time.Time) string { return l.format(t, l.messages().dates.dateTime) }

// Date formats t as a date in the reader's language and zone.
func (l *Localizer) Date(t time.Time) string { return l.format(t, l.messages().dates.date) }
