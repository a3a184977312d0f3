mod run;

pub(crate) use run::Run;
