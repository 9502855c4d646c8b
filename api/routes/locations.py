"""Locations (sites) and connector specifications, edited by operators.

A location is the site a station stands at (OCPI `Location`): name, address, coordinates, time
zone, opening hours. Stations are placed at one with `PUT /stations/{id}/location`; analytics
take its id as `?site=` and the monthly report has a section per location. Each connector may
carry its specification (OCPI `Connector`: standard, format, power type, limits), shown to drivers
in `/me/stations`. Every change is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.deps import ID_MAX, OperatorDep, SessionDep
from api.inputs import ConnectorId
from domain.locations import (
    LOCATION_ID_PATTERN,
    ConnectorSpecFields,
    Coordinates,
    LocationFields,
    OpeningTimes,
)
from store.audit import audit
from store.tables import ConnectorSpec, Location, Station

router = APIRouter(tags=["locations"])


class LocationCreate(LocationFields):
    id: str = Field(pattern=LOCATION_ID_PATTERN, description="your id for it, e.g. `berlin-1`")
    name: str = Field(min_length=1, max_length=255)


class LocationOut(BaseModel):
    id: str
    name: str
    address: str | None
    city: str | None
    postal_code: str | None
    state: str | None
    country: str | None
    coordinates: Coordinates | None
    time_zone: str | None
    parking_type: str | None
    opening_times: OpeningTimes | None
    station_ids: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None


class StationPlacement(BaseModel):
    location_id: str | None = Field(max_length=64, description="None: take it off its location")


class ConnectorSpecOut(ConnectorSpecFields):
    station_id: str
    connector_id: int


def location_out(location: Location, station_ids: list[str] | None = None) -> LocationOut:
    """The public form of a location row."""
    coordinates = None
    if location.latitude is not None and location.longitude is not None:
        coordinates = Coordinates(latitude=location.latitude, longitude=location.longitude)  # type: ignore[arg-type]
    return LocationOut(
        id=location.id,
        name=location.name,
        address=location.address,
        city=location.city,
        postal_code=location.postal_code,
        state=location.state,
        country=location.country,
        coordinates=coordinates,
        time_zone=location.time_zone,
        parking_type=location.parking_type,
        opening_times=OpeningTimes.model_validate(location.opening_times)
        if location.opening_times
        else None,
        station_ids=station_ids or [],
        updated_at=location.updated_at,
    )


def _stations_at(db: Session, location_id: str) -> list[str]:
    query = select(Station.id).where(Station.location_id == location_id).order_by(Station.id)
    return list(db.exec(query).all())


def _location_or_404(db: Session, location_id: str) -> Location:
    location = db.get(Location, location_id)
    if location is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown location")
    return location


def _apply(location: Location, fields: LocationFields) -> list[str]:
    """Copy the fields that were given; the names of those changed."""
    given = fields.model_dump(exclude_unset=True, mode="json")
    for name, value in given.items():
        if name == "coordinates":
            location.latitude = value["latitude"] if value else None
            location.longitude = value["longitude"] if value else None
        else:
            setattr(location, name, value)
    location.updated_at = datetime.now(UTC)
    return sorted(given)


@router.get("/locations")
def list_locations(
    db: SessionDep,
    _: OperatorDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> list[LocationOut]:
    """Every location with its stations."""
    rows = db.exec(select(Location).order_by(Location.id).offset(offset).limit(limit)).all()
    return [location_out(r, _stations_at(db, r.id)) for r in rows]


@router.post("/locations", status_code=status.HTTP_201_CREATED)
def create_location(body: LocationCreate, db: SessionDep, who: OperatorDep) -> LocationOut:
    """Create a location; place stations at it with `PUT /stations/{id}/location`."""
    if db.get(Location, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"location {body.id} already exists")
    location = Location(id=body.id, name=body.name)
    changed = _apply(location, LocationFields.model_validate(body.model_dump(exclude={"id"})))
    db.add(location)
    audit(db, who, "location.create", f"location:{body.id}", {"fields": changed})
    db.flush()
    return location_out(location)


@router.get("/locations/{location_id}")
def get_location(location_id: str, db: SessionDep, _: OperatorDep) -> LocationOut:
    location = _location_or_404(db, location_id)
    return location_out(location, _stations_at(db, location_id))


@router.patch("/locations/{location_id}")
def update_location(
    location_id: str, body: LocationFields, db: SessionDep, who: OperatorDep
) -> LocationOut:
    """Change the given fields (`null` clears an optional one; the name cannot be cleared)."""
    location = _location_or_404(db, location_id)
    if "name" in body.model_fields_set and body.name is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "name cannot be empty")
    changed = _apply(location, body)
    db.add(location)
    audit(db, who, "location.update", f"location:{location_id}", {"fields": changed})
    db.flush()
    return location_out(location, _stations_at(db, location_id))


@router.delete("/locations/{location_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_location(location_id: str, db: SessionDep, who: OperatorDep) -> None:
    """Delete a location that holds no station (move its stations first)."""
    location = _location_or_404(db, location_id)
    if stations := _stations_at(db, location_id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the location still holds stations: {', '.join(stations[:20])}",
        )
    db.delete(location)
    audit(db, who, "location.delete", f"location:{location_id}")


@router.put("/stations/{station_id}/location")
def place_station(
    station_id: str, body: StationPlacement, db: SessionDep, who: OperatorDep
) -> LocationOut | None:
    """Place the station at a location (or take it off with `null`); answers the location."""
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    location = None
    if body.location_id is not None:
        location = db.get(Location, body.location_id)
        if location is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown location_id")
    station.location_id = body.location_id
    db.add(station)
    audit(db, who, "station.place", f"station:{station_id}", {"location_id": body.location_id})
    db.flush()
    return location_out(location, _stations_at(db, location.id)) if location else None


@router.put("/stations/{station_id}/connectors/{connector_id}/spec")
def set_connector_spec(
    station_id: str,
    connector_id: ConnectorId,
    body: ConnectorSpecFields,
    db: SessionDep,
    who: OperatorDep,
) -> ConnectorSpecOut:
    """What the connector is: standard, socket or cable, power type, voltage, current, power."""
    station = db.get(Station, station_id)
    if station is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown station")
    if not 1 <= connector_id <= station.connector_count:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"unknown connector: the station has connectors 1 to {station.connector_count}",
        )
    row = db.get(ConnectorSpec, (station_id, connector_id)) or ConnectorSpec(
        station_id=station_id, connector_id=connector_id, **body.model_dump(mode="json")
    )
    for name, value in body.model_dump(mode="json").items():
        setattr(row, name, value)
    db.add(row)
    audit(
        db,
        who,
        "connector.spec",
        f"station:{station_id}/connector:{connector_id}",
        body.model_dump(mode="json"),
    )
    db.flush()
    return ConnectorSpecOut(
        station_id=station_id, connector_id=connector_id, **body.model_dump(mode="json")
    )
