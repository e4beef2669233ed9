//! `phonebook-bench-operations`: the bulk path through `POST /api/v2/operations` (`bench/operations`,
//! bench/README.md). Loads `BENCH_OPS_PROSPECTS` prospects with five numbers each into a running
//! service, `BENCH_OPS_BATCH` (166) prospects a request, each followed by its five numbers linked
//! to it by `lid` (166 × 6 = 996 operations, under the limit of 1000), `BENCH_OPS_PARALLEL` (4)
//! requests in flight. Every number is a distinct valid US number, checked by the service's own
//! parser before the clock starts, so that no request fails on its data.
//!
//! Environment: `BENCH_URL` (the service, e.g. `http://127.0.0.1:18080`), `BENCH_TOKEN` (a token
//! with `prospects.all phoneNumbers.all`), and the three counts above.
//!
//! Prints `RESULT resources=N seconds=S requests=R failed=F` (resources: prospects + numbers
//! created); the first failed request's status and body go to stderr.

mod settings;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use phonebook::domain::phone_number::{ExtensionInput, PhoneNumber};
use phonebook::jsonapi::media::ATOMIC;

type Failure = Box<dyn std::error::Error + Send + Sync>;

const NUMBERS_PER_PROSPECT: usize = 5;
const PHONE_TYPES: [&str; NUMBERS_PER_PROSPECT] = ["mobile", "work", "home", "voip", "other"];

fn us_number(text: &str) -> bool {
    PhoneNumber::parse(text, None, "US", ExtensionInput::Absent)
        .is_ok_and(|number| number.region() == Some("US"))
}

/// `count` distinct valid US numbers in E.164: area codes where the parser accepts a sample number,
/// exchanges 200–999 but the N11 ones, every line, in a fixed order; each candidate parsed, the
/// few it rejects skipped.
fn numbers(count: usize) -> Result<Vec<String>, Failure> {
    let areas: Vec<u32> = (201..=989)
        .filter(|area| us_number(&format!("+1{area}4561234")))
        .collect();
    let exchanges: Vec<u32> = (200..=999)
        .filter(|exchange| exchange % 100 != 11)
        .collect();
    let mut found = Vec::with_capacity(count);
    'lines: for line in 0..10_000 {
        for &exchange in &exchanges {
            for &area in &areas {
                if found.len() == count {
                    break 'lines;
                }
                let number = format!("+1{area}{exchange}{line:04}");
                if us_number(&number) {
                    found.push(number);
                }
            }
        }
    }
    if found.len() < count {
        return Err(format!("only {} valid numbers for {count}", found.len()).into());
    }
    Ok(found)
}

/// One request's body, and how many resources it creates: each prospect as an `add` with a `lid`,
/// then its numbers' `add`s naming it.
fn body(first: usize, numbers: &[String]) -> (String, usize) {
    let mut operations = Vec::with_capacity(numbers.len() / NUMBERS_PER_PROSPECT * 6);
    for (i, own) in numbers.chunks(NUMBERS_PER_PROSPECT).enumerate() {
        let prospect = first + i;
        operations.push(format!(
            r#"{{"op":"add","data":{{"type":"prospect","lid":"p{prospect}","attributes":{{"firstName":"First{prospect}","lastName":"Last{prospect}","company":"Company {}"}}}}}}"#,
            prospect % 997
        ));
        for (number, phone_type) in own.iter().zip(PHONE_TYPES) {
            operations.push(format!(
                r#"{{"op":"add","data":{{"type":"phoneNumber","attributes":{{"number":"{number}","phoneType":"{phone_type}"}},"relationships":{{"prospect":{{"data":{{"type":"prospect","lid":"p{prospect}"}}}}}}}}}}"#
            ));
        }
    }
    let resources = operations.len();
    (
        format!(r#"{{"atomic:operations":[{}]}}"#, operations.join(",")),
        resources,
    )
}

fn main() -> Result<(), Failure> {
    let url = std::env::var("BENCH_URL").map_err(|_| "BENCH_URL is required")?;
    let token = std::env::var("BENCH_TOKEN").map_err(|_| "BENCH_TOKEN is required")?;
    let prospects = settings::env_count("BENCH_OPS_PROSPECTS", 100_000)?;
    let batch = settings::env_count("BENCH_OPS_BATCH", 166)?.max(1);
    let parallel = settings::env_count("BENCH_OPS_PARALLEL", 4)?.max(1);

    let numbers = numbers(prospects * NUMBERS_PER_PROSPECT)?;
    let bodies: Vec<(String, usize)> = numbers
        .chunks(batch * NUMBERS_PER_PROSPECT)
        .enumerate()
        .map(|(i, own)| body(i * batch, own))
        .collect();
    drop(numbers);
    let requests = bodies.len();

    let endpoint = format!("{}/api/v2/operations", url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let bodies = Rc::new(bodies);
    let next = Rc::new(Cell::new(0));
    let started = Instant::now();
    let (failures, created) = actix_web::rt::System::new().block_on(async move {
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                let (client, bodies, next) = (client.clone(), bodies.clone(), next.clone());
                let (endpoint, token) = (endpoint.clone(), token.clone());
                actix_web::rt::spawn(async move {
                    // The failures, and the resources created.
                    let (mut failed, mut created) = (Vec::new(), 0);
                    loop {
                        let i = next.get();
                        next.set(i + 1);
                        let Some((body, resources)) = bodies.get(i) else {
                            return (failed, created);
                        };
                        let sent = client
                            .post(&endpoint)
                            .bearer_auth(&token)
                            .header("Content-Type", ATOMIC)
                            .header("Accept", ATOMIC)
                            .body(body.clone())
                            .send()
                            .await;
                        match sent {
                            Ok(response) if response.status().is_success() => {
                                // Read the answer to its end, as a client would.
                                match response.bytes().await {
                                    Ok(_) => created += resources,
                                    Err(error) => failed.push(format!("request {i}: {error}")),
                                }
                            }
                            Ok(response) => {
                                let status = response.status();
                                let text = response.text().await.unwrap_or_default();
                                failed.push(format!("request {i}: {status}: {text}"));
                            }
                            Err(error) => failed.push(format!("request {i}: {error}")),
                        }
                    }
                })
            })
            .collect();
        let (mut failures, mut created) = (Vec::new(), 0);
        for worker in workers {
            match worker.await {
                Ok((failed, resources)) => {
                    failures.extend(failed);
                    created += resources;
                }
                Err(error) => failures.push(error.to_string()),
            }
        }
        (failures, created)
    });
    let seconds = started.elapsed().as_secs_f64();
    if let Some(first) = failures.first() {
        eprintln!("first failure: {first}");
    }
    println!(
        "RESULT resources={created} seconds={seconds:.3} requests={requests} failed={}",
        failures.len()
    );
    Ok(())
}
