//! Messages in the shopper's language: why a coupon does not apply, from message
//! catalogues (Project Fluent, `src/messages/<language>.ftl`) chosen by the request's
//! `Accept-Language`. Codes are the same in every language; English is the fallback for
//! a language not shipped and for a message a catalogue lacks.

use std::sync::OnceLock;

use coupons_domain::Rejection;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use fluent_langneg::{NegotiationStrategy, negotiate_languages};
use unic_langid::LanguageIdentifier;

/// A language the service has messages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English, the fallback.
    #[default]
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
}

impl Language {
    /// Every shipped language, English first.
    pub const ALL: [Self; 4] = [Self::En, Self::De, Self::Fr, Self::Es];

    /// Its BCP 47 tag.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
        }
    }

    /// Its catalogue.
    const fn source(self) -> &'static str {
        match self {
            Self::En => include_str!("messages/en.ftl"),
            Self::De => include_str!("messages/de.ftl"),
            Self::Fr => include_str!("messages/fr.ftl"),
            Self::Es => include_str!("messages/es.ftl"),
        }
    }

    /// The shipped language that best fits an `Accept-Language` header (`de-CH,
    /// fr;q=0.8`), by quality then order; English when none does or none is given.
    pub fn negotiate(accept_language: Option<&str>) -> Self {
        let Some(header) = accept_language else {
            return Self::En;
        };
        let requested = fluent_langneg::accepted_languages::parse(header);
        let available: Vec<fluent_langneg::LanguageIdentifier> = Self::ALL
            .iter()
            .filter_map(|l| l.tag().parse().ok())
            .collect();
        let chosen = negotiate_languages(&requested, &available, None, NegotiationStrategy::Lookup);
        chosen
            .first()
            .and_then(|id| {
                Self::ALL
                    .into_iter()
                    .find(|l| l.tag() == id.language.as_str())
            })
            .unwrap_or_default()
    }
}

/// One bundle per shipped language, built on first use.
fn bundles() -> &'static [(Language, FluentBundle<FluentResource>)] {
    static BUNDLES: OnceLock<Vec<(Language, FluentBundle<FluentResource>)>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        Language::ALL
            .into_iter()
            .filter_map(|language| {
                let id: LanguageIdentifier = language.tag().parse().ok()?;
                // A catalogue that does not parse keeps what did; the tests refuse both.
                let resource = FluentResource::try_new(language.source().to_owned())
                    .unwrap_or_else(|(partial, _)| partial);
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                bundle.set_use_isolating(false);
                bundle.add_resource_overriding(resource);
                Some((language, bundle))
            })
            .collect()
    })
}

/// Message `id` of `language` with `args`, if its catalogue has it; with the problems
/// formatting met.
fn format(
    language: Language,
    id: &str,
    args: &FluentArgs<'_>,
) -> Option<(String, Vec<fluent_bundle::FluentError>)> {
    let (_, bundle) = bundles().iter().find(|(l, _)| *l == language)?;
    let pattern = bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(args), &mut errors);
    Some((text.into_owned(), errors))
}

/// Why a coupon does not apply, for people reading `language`.
pub fn rejection(language: Language, rejection: &Rejection) -> String {
    let mut args = FluentArgs::new();
    match rejection {
        Rejection::RuleRejected { rule, message, .. } => {
            args.set("rule", rule.clone());
            args.set("message", message.clone());
        }
        Rejection::RuleFailed { rule } => args.set("rule", rule.clone()),
        Rejection::NotCombinable { with } => args.set("with", with.clone()),
        _ => {}
    }
    format(language, rejection.code(), &args)
        .or_else(|| format(Language::En, rejection.code(), &args))
        .map_or_else(|| rejection.message(), |(text, _)| text)
}

/// The coupon input widget's own texts in one language. `{amount}` and `{seconds}` are
/// left for the widget to fill in.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetTexts {
    /// The language the texts are in (`en`, `de`, `fr`, `es`).
    pub language: &'static str,
    /// The input's label.
    pub label: String,
    /// The button.
    pub apply: String,
    /// While a code is being checked.
    pub checking: String,
    /// A code that applies; `{amount}` is the discount with its currency.
    pub applied: String,
    /// Too many failed attempts; `{seconds}` counts down.
    pub throttled: String,
    /// The service could not be reached or failed.
    pub unavailable: String,
    /// Apply pressed with no code.
    pub empty: String,
}

/// The widget's texts for people reading `language`.
pub fn widget_texts(language: Language) -> WidgetTexts {
    let mut args = FluentArgs::new();
    args.set("amount", "{amount}");
    args.set("seconds", "{seconds}");
    let text = |id: &str| {
        format(language, id, &args)
            .or_else(|| format(Language::En, id, &args))
            .map_or_else(|| id.to_owned(), |(text, _)| text)
    };
    WidgetTexts {
        language: language.tag(),
        label: text("widget-label"),
        apply: text("widget-apply"),
        checking: text("widget-checking"),
        applied: text("widget-applied"),
        throttled: text("widget-throttled"),
        unavailable: text("widget-unavailable"),
        empty: text("widget-empty"),
    }
}

#[cfg(test)]
mod tests {
    use coupons_domain::RejectionKind;

    use super::*;

    /// A rejection of each kind, with its details filled in.
    fn every_rejection() -> Vec<Rejection> {
        use Rejection as R;
        let all = vec![
            R::NotFound,
            R::NotActive,
            R::NotStarted,
            R::Expired,
            R::CurrencyMismatch,
            R::ChannelNotEligible,
            R::MinSubtotalNotMet,
            R::MinItemsNotMet,
            R::NoEligibleItems,
            R::ZeroDiscount,
            R::UsageLimitReached,
            R::CodeUsageLimitReached,
            R::CustomerRequired,
            R::CustomerLimitReached,
            R::CustomerDiscountLimitReached,
            R::AlreadyAppliedToOrder,
            R::NotCombinable {
                with: "SAVE10".into(),
            },
            R::CampaignUsageLimitReached,
            R::CampaignBudgetExhausted,
            R::RuleRejected {
                rule: "staff_only".into(),
                code: "NOT_STAFF".into(),
                message: "staff only".into(),
            },
            R::RuleFailed {
                rule: "staff_only".into(),
            },
            R::OrderFullyDiscounted,
        ];
        let kinds: Vec<RejectionKind> = all.iter().map(Rejection::kind).collect();
        assert_eq!(kinds, RejectionKind::ALL, "one of each kind, in order");
        all
    }

    #[test]
    fn every_code_has_a_message_in_every_language() {
        for language in Language::ALL {
            assert!(
                FluentResource::try_new(language.source().to_owned()).is_ok(),
                "{} does not parse",
                language.tag()
            );
            for r in every_rejection() {
                let mut args = FluentArgs::new();
                args.set("rule", "staff_only");
                args.set("message", "staff only");
                args.set("with", "SAVE10");
                let (text, errors) = format(language, r.code(), &args)
                    .unwrap_or_else(|| panic!("{}: no message {}", language.tag(), r.code()));
                assert!(
                    errors.is_empty(),
                    "{}: {}: {errors:?}",
                    language.tag(),
                    r.code()
                );
                assert!(!text.trim().is_empty());
            }
        }
    }

    #[test]
    fn every_widget_text_is_in_every_language() {
        let ids = [
            "widget-label",
            "widget-apply",
            "widget-checking",
            "widget-applied",
            "widget-throttled",
            "widget-unavailable",
            "widget-empty",
        ];
        for language in Language::ALL {
            let mut args = FluentArgs::new();
            args.set("amount", "{amount}");
            args.set("seconds", "{seconds}");
            for id in ids {
                let (text, errors) = format(language, id, &args)
                    .unwrap_or_else(|| panic!("{}: no message {id}", language.tag()));
                assert!(errors.is_empty(), "{}: {id}: {errors:?}", language.tag());
                assert!(!text.trim().is_empty());
            }
            let texts = widget_texts(language);
            assert!(texts.applied.contains("{amount}"), "{texts:?}");
            assert!(texts.throttled.contains("{seconds}"), "{texts:?}");
        }
        assert_eq!(widget_texts(Language::De).apply, "Einlösen");
    }

    #[test]
    fn english_is_the_domain_s_wording() {
        for r in every_rejection() {
            assert_eq!(rejection(Language::En, &r), r.message(), "{}", r.code());
        }
    }

    #[test]
    fn the_header_picks_the_language() {
        let pick = |h: &str| Language::negotiate(Some(h));
        assert_eq!(pick("de"), Language::De);
        assert_eq!(pick("de-CH,de;q=0.9,en;q=0.8"), Language::De);
        assert_eq!(pick("fr-CA"), Language::Fr);
        assert_eq!(pick("pt-BR,es;q=0.5"), Language::Es);
        assert_eq!(pick("pt-BR"), Language::En);
        assert_eq!(pick("*"), Language::En);
        assert_eq!(pick(""), Language::En);
        assert_eq!(Language::negotiate(None), Language::En);
        let expired = Rejection::Expired;
        assert_eq!(
            rejection(Language::De, &expired),
            "dieser Gutschein ist abgelaufen"
        );
        assert_eq!(
            rejection(
                Language::Fr,
                &Rejection::NotCombinable {
                    with: "SAVE10".into()
                }
            ),
            "ce bon ne peut pas être combiné avec SAVE10"
        );
    }
}
