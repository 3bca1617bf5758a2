//! Planning weather requests: the lookups claimed around one place are split into
//! date ranges, each answered by one provider request (Open-Meteo returns every day
//! from `start_date` to `end_date` at a place).

use std::collections::VecDeque;

use time::Date;

use super::weather::archived;
use crate::domain::ids::UserId;

/// Runs within this many degrees (latitude and longitude) of a place share its
/// lookups: finer than the grid of the provider's historical data (about 0.1°).
pub const NEARBY_DEGREES: f64 = 0.05;
/// A range is split where two wanted days lie further apart than this (fetching the
/// days between would cost more than another request)…
const MAX_GAP_DAYS: i64 = 31;
/// …or where it would span more than a year.
const MAX_SPAN_DAYS: i64 = 366;

/// A claimed lookup: the run as it was when claimed, and its tries so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub run_id: String,
    pub user_id: UserId,
    pub date: Date,
    pub lat: f64,
    pub lon: f64,
    pub attempts: i64,
}

/// One provider request: every day from `first` to `last` at one place, for `lookups`.
#[derive(Debug, PartialEq)]
pub struct Batch {
    pub lat: f64,
    pub lon: f64,
    pub first: Date,
    pub last: Date,
    pub lookups: Vec<Lookup>,
}

impl Batch {
    fn new(lat: f64, lon: f64, lookups: Vec<Lookup>) -> Self {
        let first = lookups.first().map_or(Date::MIN, |l| l.date);
        let last = lookups.last().map_or(Date::MIN, |l| l.date);
        Self { lat, lon, first, last, lookups }
    }

    /// The batch as two requests, each with half of its days; `None` for a single day.
    /// A provider refusing a range (one day out of its coverage, say) is asked again
    /// by halves until the refused days stand alone.
    pub fn halves(self) -> Result<[Batch; 2], Batch> {
        if self.first == self.last {
            return Err(self);
        }
        let middle = self.first + (self.last - self.first) / 2;
        let (early, late): (Vec<_>, Vec<_>) = self.lookups.into_iter().partition(|l| l.date <= middle);
        Ok([Batch::new(self.lat, self.lon, early), Batch::new(self.lat, self.lon, late)])
    }
}

/// Splits the lookups claimed around (`lat`, `lon`) into requests at that place: by
/// date, a new request where the provider's API changes (archive or forecast), where
/// a gap exceeds [`MAX_GAP_DAYS`] or a span [`MAX_SPAN_DAYS`].
pub fn plan(lat: f64, lon: f64, mut lookups: Vec<Lookup>, today: Date) -> VecDeque<Batch> {
    lookups.sort_by_key(|l| l.date);
    let mut batches = VecDeque::new();
    let mut current: Vec<Lookup> = Vec::new();
    for lookup in lookups {
        if let (Some(first), Some(previous)) = (current.first(), current.last()) {
            let apart = archived(first.date, today) != archived(lookup.date, today)
                || (lookup.date - previous.date).whole_days() > MAX_GAP_DAYS
                || (lookup.date - first.date).whole_days() > MAX_SPAN_DAYS;
            if apart {
                batches.push_back(Batch::new(lat, lon, std::mem::take(&mut current)));
            }
        }
        current.push(lookup);
    }
    if !current.is_empty() {
        batches.push_back(Batch::new(lat, lon, current));
    }
    batches
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn lookup(date: Date) -> Lookup {
        Lookup {
            run_id: date.to_string(),
            user_id: UserId::generate(),
            date,
            lat: 1.0,
            lon: 2.0,
            attempts: 0,
        }
    }

    fn ranges(batches: &VecDeque<Batch>) -> Vec<(Date, Date, usize)> {
        batches.iter().map(|b| (b.first, b.last, b.lookups.len())).collect()
    }

    #[test]
    fn days_close_together_share_a_request_and_far_ones_do_not() {
        let today = date!(2024 - 06 - 30);
        let days = [
            date!(2023 - 01 - 10),
            date!(2023 - 01 - 01),
            date!(2023 - 01 - 10),
            date!(2023 - 02 - 10),
            date!(2023 - 03 - 20),
            date!(2024 - 03 - 01),
            date!(2024 - 06 - 28),
        ];
        let batches = plan(1.0, 2.0, days.map(lookup).to_vec(), today);
        assert_eq!(
            ranges(&batches),
            [
                (date!(2023 - 01 - 01), date!(2023 - 02 - 10), 4),
                (date!(2023 - 03 - 20), date!(2023 - 03 - 20), 1),
                (date!(2024 - 03 - 01), date!(2024 - 03 - 01), 1),
                (date!(2024 - 06 - 28), date!(2024 - 06 - 28), 1),
            ],
            "a gap over a month splits; the last is recent (forecast API)"
        );
    }

    #[test]
    fn a_long_dense_range_is_split_by_year() {
        let start = date!(2020 - 01 - 01);
        let days: Vec<_> = (0..1000).map(|i| lookup(start + time::Duration::days(i))).collect();
        let batches = plan(0.0, 0.0, days, date!(2026 - 01 - 01));
        assert_eq!(batches.len(), 3);
        assert!(batches.iter().all(|b| (b.last - b.first).whole_days() <= MAX_SPAN_DAYS));
        assert_eq!(batches.iter().map(|b| b.lookups.len()).sum::<usize>(), 1000);
    }

    #[test]
    fn halves_split_by_date_down_to_single_days() {
        let days =
            [date!(2023 - 01 - 01), date!(2023 - 01 - 02), date!(2023 - 01 - 02), date!(2023 - 01 - 09)];
        let batch = plan(0.0, 0.0, days.map(lookup).to_vec(), date!(2024 - 01 - 01)).pop_front().unwrap();
        let [early, late] = batch.halves().unwrap();
        assert_eq!(
            (early.first, early.last, early.lookups.len()),
            (date!(2023 - 01 - 01), date!(2023 - 01 - 02), 3)
        );
        assert_eq!(
            (late.first, late.last, late.lookups.len()),
            (date!(2023 - 01 - 09), date!(2023 - 01 - 09), 1)
        );
        let single = late.halves().unwrap_err();
        assert_eq!(single.lookups.len(), 1);
    }
}
