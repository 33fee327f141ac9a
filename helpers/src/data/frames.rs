//! A world as DataFrames: one per table, and the joins the lessons start from.

use polars::prelude::*;

use super::*;
use crate::error::Result;

impl World {
    /// One row per table with its row count: a quick look at the world's size.
    pub fn summary(&self) -> Result<DataFrame> {
        let names = ["countries", "cities", "addresses", "users", "products", "orders", "events"];
        let counts = [
            self.countries.len(),
            self.cities.len(),
            self.addresses.len(),
            self.users.len(),
            self.products.len(),
            self.orders.len(),
            self.events.len(),
        ];
        Ok(DataFrame::new_infer_height(vec![
            Column::new("table".into(), names),
            Column::new("rows".into(), counts.iter().map(|&c| c as u64).collect::<Vec<_>>()),
        ])?)
    }

    /// The city where the most users live (by their addresses; on a tie, the lower id): the
    /// centre of the geospatial lesson.
    pub fn busiest_city(&self) -> &City {
        let mut users = vec![0usize; self.cities.len() + 1];
        for a in &self.addresses {
            users[a.city_id as usize] += 1;
        }
        let id = (1..users.len()).max_by_key(|&id| (users[id], std::cmp::Reverse(id))).unwrap_or(1);
        &self.cities[id - 1]
    }

    /// The name of the country `user` lives in.
    pub fn country_of(&self, user: &User) -> &str {
        let city = &self.cities[(self.addresses[(user.address_id - 1) as usize].city_id - 1) as usize];
        &self.countries[(city.country_id - 1) as usize].name
    }

    /// Where each user lives: `user_id`, `city`, `country` (code), `continent`, `lat`, `lon`.
    /// The join users → addresses → cities → countries, done once here.
    pub fn user_locations(&self) -> Result<DataFrame> {
        let city_of = |u: &User| &self.cities[(self.addresses[(u.address_id - 1) as usize].city_id - 1) as usize];
        let country_of = |u: &User| &self.countries[(city_of(u).country_id - 1) as usize];
        let u = &self.users;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("user_id".into(), u.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("city".into(), u.iter().map(|x| city_of(x).name.as_str()).collect::<Vec<_>>()),
            Column::new("country".into(), u.iter().map(|x| country_of(x).code.as_str()).collect::<Vec<_>>()),
            Column::new("continent".into(), u.iter().map(|x| country_of(x).continent.as_str()).collect::<Vec<_>>()),
            Column::new("lat".into(), u.iter().map(|x| self.addresses[(x.address_id - 1) as usize].lat).collect::<Vec<_>>()),
            Column::new("lon".into(), u.iter().map(|x| self.addresses[(x.address_id - 1) as usize].lon).collect::<Vec<_>>()),
        ])?)
    }

    /// Countries as a DataFrame.
    pub fn countries_frame(&self) -> Result<DataFrame> {
        let c = &self.countries;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), c.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("code".into(), c.iter().map(|x| x.code.as_str()).collect::<Vec<_>>()),
            Column::new("name".into(), c.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()),
            Column::new("continent".into(), c.iter().map(|x| x.continent.as_str()).collect::<Vec<_>>()),
        ])?)
    }

    /// Cities as a DataFrame.
    pub fn cities_frame(&self) -> Result<DataFrame> {
        let c = &self.cities;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), c.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("country_id".into(), c.iter().map(|x| x.country_id).collect::<Vec<_>>()),
            Column::new("name".into(), c.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()),
            Column::new("lat".into(), c.iter().map(|x| x.lat).collect::<Vec<_>>()),
            Column::new("lon".into(), c.iter().map(|x| x.lon).collect::<Vec<_>>()),
        ])?)
    }

    /// Addresses as a DataFrame.
    pub fn addresses_frame(&self) -> Result<DataFrame> {
        let a = &self.addresses;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), a.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("city_id".into(), a.iter().map(|x| x.city_id).collect::<Vec<_>>()),
            Column::new("street".into(), a.iter().map(|x| x.street.as_str()).collect::<Vec<_>>()),
            Column::new("postal_code".into(), a.iter().map(|x| x.postal_code.as_str()).collect::<Vec<_>>()),
            Column::new("lat".into(), a.iter().map(|x| x.lat).collect::<Vec<_>>()),
            Column::new("lon".into(), a.iter().map(|x| x.lon).collect::<Vec<_>>()),
        ])?)
    }

    /// Users as a DataFrame (what the application stores; no latent traits).
    pub fn users_frame(&self) -> Result<DataFrame> {
        let u = &self.users;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), u.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("username".into(), u.iter().map(|x| x.username.as_str()).collect::<Vec<_>>()),
            Column::new("email".into(), u.iter().map(|x| x.email.as_str()).collect::<Vec<_>>()),
            Column::new("first_name".into(), u.iter().map(|x| x.first_name.as_str()).collect::<Vec<_>>()),
            Column::new("last_name".into(), u.iter().map(|x| x.last_name.as_str()).collect::<Vec<_>>()),
            Column::new("address_id".into(), u.iter().map(|x| x.address_id).collect::<Vec<_>>()),
            Column::new("registered_at".into(), u.iter().map(|x| x.registered_at).collect::<Vec<_>>()),
            Column::new("profile_score".into(), u.iter().map(|x| x.profile_score).collect::<Vec<_>>()),
            Column::new("verified".into(), u.iter().map(|x| x.verified).collect::<Vec<_>>()),
            Column::new("last_active_at".into(), u.iter().map(|x| x.last_active_at).collect::<Vec<_>>()),
            Column::new("login_count".into(), u.iter().map(|x| x.login_count).collect::<Vec<_>>()),
        ])?)
    }

    /// The planted truth per user as a DataFrame.
    pub fn truth_frame(&self) -> Result<DataFrame> {
        let t = &self.truth;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("user_id".into(), t.iter().map(|x| x.user_id).collect::<Vec<_>>()),
            Column::new("engagement".into(), t.iter().map(|x| x.engagement).collect::<Vec<_>>()),
            Column::new("spend".into(), t.iter().map(|x| x.spend).collect::<Vec<_>>()),
            Column::new("churn_hazard".into(), t.iter().map(|x| x.churn_hazard).collect::<Vec<_>>()),
            Column::new("churned".into(), t.iter().map(|x| x.churned).collect::<Vec<_>>()),
            Column::new("churned_at".into(), t.iter().map(|x| x.churned_at).collect::<Vec<_>>()),
            Column::new("monthly_value".into(), t.iter().map(|x| x.monthly_value).collect::<Vec<_>>()),
        ])?)
    }

    /// Products as a DataFrame.
    pub fn products_frame(&self) -> Result<DataFrame> {
        let p = &self.products;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), p.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("name".into(), p.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()),
            Column::new("category".into(), p.iter().map(|x| x.category.as_str()).collect::<Vec<_>>()),
            Column::new("price".into(), p.iter().map(|x| x.price).collect::<Vec<_>>()),
        ])?)
    }

    /// Orders as a DataFrame.
    pub fn orders_frame(&self) -> Result<DataFrame> {
        let o = &self.orders;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), o.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("user_id".into(), o.iter().map(|x| x.user_id).collect::<Vec<_>>()),
            Column::new("product_id".into(), o.iter().map(|x| x.product_id).collect::<Vec<_>>()),
            Column::new("quantity".into(), o.iter().map(|x| x.quantity).collect::<Vec<_>>()),
            Column::new("unit_price".into(), o.iter().map(|x| x.unit_price).collect::<Vec<_>>()),
            Column::new("total".into(), o.iter().map(|x| x.total).collect::<Vec<_>>()),
            Column::new("ordered_at".into(), o.iter().map(|x| x.ordered_at).collect::<Vec<_>>()),
            Column::new("status".into(), o.iter().map(|x| x.status.as_str()).collect::<Vec<_>>()),
        ])?)
    }

    /// Events as a DataFrame.
    pub fn events_frame(&self) -> Result<DataFrame> {
        let e = &self.events;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), e.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("user_id".into(), e.iter().map(|x| x.user_id).collect::<Vec<_>>()),
            Column::new("session_id".into(), e.iter().map(|x| x.session_id).collect::<Vec<_>>()),
            Column::new("kind".into(), e.iter().map(|x| x.kind.as_str()).collect::<Vec<_>>()),
            Column::new("product_id".into(), e.iter().map(|x| x.product_id).collect::<Vec<_>>()),
            Column::new("at".into(), e.iter().map(|x| x.at).collect::<Vec<_>>()),
            Column::new("lat".into(), e.iter().map(|x| x.lat).collect::<Vec<_>>()),
            Column::new("lon".into(), e.iter().map(|x| x.lon).collect::<Vec<_>>()),
        ])?)
    }
}

